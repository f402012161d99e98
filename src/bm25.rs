//! Okapi BM25 over tool definitions, for the optimizer's `find_tool`: the
//! same scores as PyPI `rank-bm25`'s `BM25Okapi` (k1 1.5, b 0.75, ε 0.25:
//! `idf = ln(N − n + 0.5) − ln(n + 0.5)`, a negative idf replaced by ε ×
//! the average idf). Words are runs of letters and digits, split again at
//! case changes (`getWeather` → `get`, `weather`) and lowercased; a tool's
//! words come from its name, title, description and its parameters' names
//! and descriptions. Pure.

use std::collections::HashMap;

use serde_json::Value;

const K1: f64 = 1.5;
const B: f64 = 0.75;
const EPSILON: f64 = 0.25;

/// The words of `text`, lowercased.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev: Option<char> = None;
    for c in text.chars() {
        if !c.is_alphanumeric() {
            flush(&mut word, &mut out);
            prev = None;
            continue;
        }
        // `aB` and `ABc` (the start of `Bc`) begin a new word.
        let lower_to_upper =
            prev.is_some_and(|p| p.is_lowercase() || p.is_numeric()) && c.is_uppercase();
        if lower_to_upper {
            flush(&mut word, &mut out);
        } else if c.is_lowercase()
            && prev.is_some_and(char::is_uppercase)
            && word.chars().count() > 1
        {
            // `HTTPServer`: the last capital starts `Server`.
            let last = word.pop();
            flush(&mut word, &mut out);
            word.extend(last);
        }
        word.extend(c.to_lowercase());
        prev = Some(c);
    }
    flush(&mut word, &mut out);
    out
}

fn flush(word: &mut String, out: &mut Vec<String>) {
    if !word.is_empty() {
        out.push(std::mem::take(word));
    }
}

/// The words a tool is found by: name, title, description, and each
/// parameter's name and description.
pub fn tool_words(tool: &Value) -> Vec<String> {
    fn text(v: Option<&Value>) -> &str {
        v.and_then(Value::as_str).unwrap_or_default()
    }
    let mut out = words(text(tool.get("name")));
    out.extend(words(text(tool.get("title"))));
    out.extend(words(text(tool.get("description"))));
    if let Some(props) = tool
        .pointer("/inputSchema/properties")
        .and_then(Value::as_object)
    {
        for (name, schema) in props {
            out.extend(words(name));
            out.extend(words(text(schema.get("description"))));
        }
    }
    out
}

/// A BM25 index over documents given as words.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// Each document's word counts and length.
    docs: Vec<(HashMap<String, usize>, usize)>,
    /// Each word's idf.
    idf: HashMap<String, f64>,
    avgdl: f64,
}

impl Index {
    /// Indexes `docs`.
    pub fn new(docs: &[Vec<String>]) -> Index {
        let n = docs.len();
        // How many documents hold each word.
        let mut holding: HashMap<&str, usize> = HashMap::new();
        let mut counted = Vec::with_capacity(n);
        let mut total = 0;
        for doc in docs {
            let mut counts: HashMap<String, usize> = HashMap::new();
            let mut seen: Vec<&str> = Vec::new();
            for w in doc {
                *counts.entry(w.clone()).or_default() += 1;
                if !seen.contains(&w.as_str()) {
                    seen.push(w);
                    *holding.entry(w).or_default() += 1;
                }
            }
            total += doc.len();
            counted.push((counts, doc.len()));
        }
        let raw: HashMap<String, f64> = holding
            .iter()
            .map(|(w, &k)| {
                let idf = (n as f64 - k as f64 + 0.5).ln() - (k as f64 + 0.5).ln();
                ((*w).to_owned(), idf)
            })
            .collect();
        let average = if raw.is_empty() {
            0.0
        } else {
            raw.values().sum::<f64>() / raw.len() as f64
        };
        let idf = raw
            .into_iter()
            .map(|(w, v)| (w, if v < 0.0 { EPSILON * average } else { v }))
            .collect();
        let avgdl = if n == 0 { 0.0 } else { total as f64 / n as f64 };
        Index {
            docs: counted,
            idf,
            avgdl,
        }
    }

    /// Each document's score for `query` (a repeated word counts again).
    pub fn scores(&self, query: &[String]) -> Vec<f64> {
        self.docs
            .iter()
            .map(|(counts, len)| {
                query
                    .iter()
                    .map(|q| {
                        let f = counts.get(q).copied().unwrap_or(0) as f64;
                        let idf = self.idf.get(q).copied().unwrap_or(0.0);
                        let norm =
                            K1 * (1.0 - B + B * *len as f64 / self.avgdl.max(f64::MIN_POSITIVE));
                        idf * f * (K1 + 1.0) / (f + norm)
                    })
                    .sum()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(words: &str) -> Vec<String> {
        words.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn scores_are_rank_bm25s() {
        // Vectors checked against rank-bm25 0.2.2's BM25Okapi.
        let index = Index::new(&[
            doc("get weather city"),
            doc("get time zone"),
            doc("send email to user"),
            doc("search web"),
        ]);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        let s = index.scores(&doc("get weather"));
        assert!(
            close(s[0], 0.847298) && s[1..].iter().all(|x| *x == 0.0),
            "{s:?}"
        );
        assert!(close(index.scores(&doc("weather weather"))[0], 1.694596));
        let one = Index::new(&[doc("a b")]);
        assert!(close(one.scores(&doc("a"))[0], -0.274653));
    }

    #[test]
    fn words_split_at_separators_and_case_changes() {
        assert_eq!(words("get_weather-now.v2"), ["get", "weather", "now", "v2"]);
        assert_eq!(
            words("getWeatherHTTPServer"),
            ["get", "weather", "http", "server"]
        );
        assert_eq!(words("Search the Web!"), ["search", "the", "web"]);
        let tool = serde_json::json!({"name": "sendEmail", "description": "Send mail",
            "inputSchema": {"properties": {"toAddress": {"description": "Who"}}}});
        assert_eq!(
            tool_words(&tool),
            ["send", "email", "send", "mail", "to", "address", "who"]
        );
    }
}
