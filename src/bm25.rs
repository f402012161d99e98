//! Okapi BM25 over tool definitions, for the optimizer's `find_tool`: the
//! same scores as PyPI `rank-bm25`'s `BM25Okapi` (k1 1.5, b 0.75, ε 0.25:
//! `idf = ln(N − n + 0.5) − ln(n + 0.5)`, a negative idf replaced by ε ×
//! the average idf). Words are runs of letters and digits, split again at
//! case changes (`getWeather` → `get`, `weather`) and lowercased; a tool's
//! words come from its name, title, description and its parameters' names
//! and descriptions. Pure.

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

/// A BM25 index over documents given as words, kept small: the
/// vocabulary as one string, and each document as its sorted word
/// numbers (a word as often as it occurs), one after another.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Index {
    /// Every word, sorted, one after another: word `i` is
    /// `text[ends[i - 1]..ends[i]]`; a word's number is its place.
    text: String,
    word_ends: Vec<u32>,
    /// Each word's idf, by number.
    idf: Vec<f64>,
    /// Every document's word numbers, sorted within the document: two
    /// bytes each while the vocabulary has at most 65,536 words (any
    /// catalog of a few thousand tools), else four.
    postings: Postings,
    /// Where each document's numbers end in `postings`.
    doc_ends: Vec<u32>,
    avgdl: f64,
}

impl Index {
    /// Indexes `docs`.
    pub fn new(docs: &[Vec<String>]) -> Index {
        let n = docs.len();
        let mut vocabulary: Vec<&str> = docs.iter().flatten().map(String::as_str).collect();
        vocabulary.sort_unstable();
        vocabulary.dedup();
        let mut index = Index::default();
        for w in &vocabulary {
            index.text.push_str(w);
            index.word_ends.push(index.text.len() as u32);
        }
        // How many documents hold each word.
        let mut holding = vec![0usize; vocabulary.len()];
        let mut all: Vec<u32> = Vec::new();
        for doc in docs {
            let at = all.len();
            for w in doc {
                let id = vocabulary.binary_search(&w.as_str()).unwrap_or_default();
                all.push(id as u32);
            }
            let own = &mut all[at..];
            own.sort_unstable();
            for (i, id) in own.iter().enumerate() {
                if i == 0 || own[i - 1] != *id {
                    holding[*id as usize] += 1;
                }
            }
            index.doc_ends.push(all.len() as u32);
        }
        let words = all.len();
        index.postings = match all.iter().map(|id| u16::try_from(*id)).collect() {
            Ok(narrow) => Postings::Narrow(narrow),
            Err(_) => Postings::Wide(all),
        };
        let raw = |k: usize| (n as f64 - k as f64 + 0.5).ln() - (k as f64 + 0.5).ln();
        let average = if holding.is_empty() {
            0.0
        } else {
            holding.iter().map(|k| raw(*k)).sum::<f64>() / holding.len() as f64
        };
        index.idf = holding
            .iter()
            .map(|k| match raw(*k) {
                idf if idf < 0.0 => EPSILON * average,
                idf => idf,
            })
            .collect();
        index.avgdl = if n == 0 { 0.0 } else { words as f64 / n as f64 };
        index.text.shrink_to_fit();
        index.word_ends.shrink_to_fit();
        index.doc_ends.shrink_to_fit();
        index
    }

    /// The bytes the index holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + 4 * self.word_ends.capacity()
            + 8 * self.idf.capacity()
            + match &self.postings {
                Postings::Narrow(p) => 2 * p.capacity(),
                Postings::Wide(p) => 4 * p.capacity(),
            }
            + 4 * self.doc_ends.capacity()
    }

    /// The number of `word`, if the index has it.
    fn number(&self, word: &str) -> Option<u32> {
        let word_at = |i: usize| {
            let start = if i == 0 {
                0
            } else {
                self.word_ends[i - 1] as usize
            };
            &self.text[start..self.word_ends[i] as usize]
        };
        let (mut lo, mut hi) = (0, self.word_ends.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match word_at(mid).cmp(word) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid as u32),
            }
        }
        None
    }

    /// Document `doc`'s word numbers.
    fn doc(&self, doc: usize) -> Words<'_> {
        let start = if doc == 0 {
            0
        } else {
            self.doc_ends[doc - 1] as usize
        };
        let end = self.doc_ends.get(doc).map_or(start, |e| *e as usize);
        match &self.postings {
            Postings::Narrow(p) => Words::Narrow(&p[start..end]),
            Postings::Wide(p) => Words::Wide(&p[start..end]),
        }
    }

    /// Whether document `doc` has `word`.
    pub fn holds(&self, doc: usize, word: &str) -> bool {
        self.number(word)
            .is_some_and(|id| self.doc(doc).count(id) > 0)
    }

    /// Each document's score for `query` (a repeated word counts again).
    pub fn scores(&self, query: &[String]) -> Vec<f64> {
        let query: Vec<(u32, f64)> = query
            .iter()
            .filter_map(|q| self.number(q))
            .map(|id| (id, self.idf[id as usize]))
            .collect();
        (0..self.doc_ends.len())
            .map(|doc| {
                let words = self.doc(doc);
                let len = words.len() as f64;
                let norm = K1 * (1.0 - B + B * len / self.avgdl.max(f64::MIN_POSITIVE));
                query
                    .iter()
                    .map(|(id, idf)| {
                        let f = words.count(*id) as f64;
                        idf * f * (K1 + 1.0) / (f + norm)
                    })
                    .sum()
            })
            .collect()
    }
}

/// Every document's word numbers.
#[derive(Debug, Clone, PartialEq)]
enum Postings {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

impl Default for Postings {
    fn default() -> Postings {
        Postings::Narrow(Vec::new())
    }
}

/// One document's word numbers, sorted.
enum Words<'a> {
    Narrow(&'a [u16]),
    Wide(&'a [u32]),
}

impl Words<'_> {
    fn len(&self) -> usize {
        match self {
            Words::Narrow(w) => w.len(),
            Words::Wide(w) => w.len(),
        }
    }

    /// How often word number `id` occurs.
    fn count(&self, id: u32) -> usize {
        fn run<T: Copy + Into<u32>>(words: &[T], id: u32) -> usize {
            words.partition_point(|w| (*w).into() <= id)
                - words.partition_point(|w| (*w).into() < id)
        }
        match self {
            Words::Narrow(w) => run(w, id),
            Words::Wide(w) => run(w, id),
        }
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
    fn a_vocabulary_past_two_bytes_scores_the_same() {
        // 70,000 words: word numbers take four bytes.
        let mut docs: Vec<Vec<String>> = (0..7)
            .map(|d| (0..10_000).map(|w| format!("w{d}x{w}")).collect())
            .collect();
        docs[0].push("shared".into());
        docs[1].push("shared".into());
        let wide = Index::new(&docs);
        assert!(matches!(wide.postings, Postings::Wide(_)));
        let s = wide.scores(&doc("w3x7 shared"));
        assert!(s[3] > 0.0 && s[0] > 0.0 && s[1] > 0.0, "{s:?}");
        assert_eq!(s[0], s[1]);
        assert!(wide.holds(3, "w3x7") && !wide.holds(2, "w3x7"));
        // The same words in a small corpus score alike.
        let narrow = Index::new(&[doc("a b shared"), doc("c shared"), doc("d")]);
        assert!(matches!(narrow.postings, Postings::Narrow(_)));
        assert!(narrow.scores(&doc("shared"))[0] > 0.0);
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
