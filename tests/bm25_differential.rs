//! The `find_tool` ranking (`bm25::Index`) against an independent Okapi
//! BM25, PyPI `rank-bm25`'s `BM25Okapi`, pinned by tests/run-all.sh.
//! tests/py/bm25_cases.py generates a catalog of 300 tool definitions and
//! about 60 queries; our tokenizer (`tool_words`, `words`) splits them here
//! and the script scores the resulting words with `rank-bm25`, so both
//! sides rank the same words and only the scoring is compared: every score
//! within 1e-9 (relative, absolute below 1). Queries made of one tool's own
//! words must find that tool first in both. Small corpora of one to six
//! documents, where idf is zero or negative, go through the same scorer.
//! Tokenizing is not compared: `rank-bm25` has no tokenizer of its own.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::RecvTimeoutError;
use std::thread;
use std::time::{Duration, Instant};

use argus_mcp::bm25::{Index, tool_words, words};
use serde_json::{Value, json};

use crate::support::{READ_TIMEOUT, Reaped, collected, fail_with, lines_of, python};

/// Tools in the generated catalog.
const TOOLS: usize = 300;
/// Failures shown in full; the rest are only counted.
const SHOWN: usize = 10;
/// How long one run of the script may take in all (it needs well under a
/// second).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest difference allowed, relative to the larger score, or absolute
/// when both are below 1: the two sum the same terms in other orders.
const TOLERANCE: f64 = 1e-9;

/// One generated query, split by our tokenizer.
struct Query {
    text: String,
    /// `single`, `multi`, `repeated`, `absent` or `unambiguous`.
    kind: String,
    /// The tool an `unambiguous` query is made from.
    intended: Option<usize>,
    words: Vec<String>,
}

/// What `rank-bm25` answers for one corpus.
struct Scored {
    /// One row per query, one score per document.
    scores: Vec<Vec<f64>>,
    /// Per query, the first document with the highest score (numpy's argmax).
    top: Vec<usize>,
}

/// A corpus and the queries to score against it, as words.
struct Problem<'a> {
    corpus: &'a [Vec<String>],
    queries: &'a [Vec<String>],
}

/// The generated catalog with `rank-bm25`'s scores for its queries.
struct Catalog {
    tools: Vec<Value>,
    corpus: Vec<Vec<String>>,
    queries: Vec<Query>,
    theirs: Scored,
}

/// Runs tests/py/bm25_cases.py with `args`, `input` lines on its stdin;
/// its stdout lines. Every read has a timeout and the whole run a deadline.
fn script(args: &[&str], input: Vec<String>) -> Vec<String> {
    let started = Instant::now();
    let mut cmd = Command::new(python());
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/bm25_cases.py"
    ))
    .args(args)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = Reaped(cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")));
    let mut stdin = child.0.stdin.take().unwrap();
    // A thread, so a full pipe either way cannot stall both sides.
    let feeder = thread::spawn(move || {
        for line in input {
            if writeln!(stdin, "{line}").is_err() {
                break;
            }
        }
    });
    let lines = lines_of(child.0.stdout.take().unwrap());
    let stderr = collected(child.0.stderr.take().unwrap());

    let mut out = Vec::new();
    loop {
        assert!(
            started.elapsed() < RUN_TIMEOUT,
            "bm25_cases.py {args:?} took too long"
        );
        match lines.recv_timeout(READ_TIMEOUT) {
            Ok(line) => out.push(line),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                panic!("bm25_cases.py {args:?} wrote nothing for {READ_TIMEOUT:?}")
            }
        }
    }
    feeder.join().unwrap();
    let deadline = Instant::now() + READ_TIMEOUT;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "bm25_cases.py {args:?} did not exit"
        );
        thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "bm25_cases.py {args:?} failed ({status}):\n{}",
        stderr.lock().unwrap()
    );
    out
}

/// `rank-bm25`'s answer to each problem, from one run.
fn rank_bm25(problems: &[Problem]) -> Vec<Scored> {
    let input = problems
        .iter()
        .map(|p| json!({"corpus": p.corpus, "queries": p.queries}).to_string())
        .collect();
    let lines = script(&["score"], input);
    assert_eq!(lines.len(), problems.len(), "one answer per corpus");
    lines
        .iter()
        .zip(problems)
        .map(|(line, Problem { corpus, queries })| {
            let answer: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("bad line from bm25_cases.py: {e}: {line}"));
            let scores: Vec<Vec<f64>> = serde_json::from_value(answer["scores"].clone())
                .unwrap_or_else(|e| panic!("bad scores from bm25_cases.py: {e}: {line}"));
            let top: Vec<usize> = serde_json::from_value(answer["top"].clone())
                .unwrap_or_else(|e| panic!("bad top from bm25_cases.py: {e}: {line}"));
            assert_eq!(scores.len(), queries.len(), "one row per query: {line}");
            assert!(
                scores.iter().all(|row| row.len() == corpus.len()),
                "one score per document: {line}"
            );
            assert_eq!(top.len(), queries.len(), "one top per query: {line}");
            Scored { scores, top }
        })
        .collect()
}

/// The catalog, generated, split and scored once for all the tests here.
fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let lines = script(&["generate"], Vec::new());
        assert_eq!(lines.len(), 1, "generate writes one line");
        let mut generated: Value = serde_json::from_str(&lines[0])
            .unwrap_or_else(|e| panic!("bad line from bm25_cases.py: {e}"));
        let Value::Array(tools) = generated["tools"].take() else {
            panic!("no tools from bm25_cases.py")
        };
        assert_eq!(tools.len(), TOOLS);
        let Value::Array(queries) = generated["queries"].take() else {
            panic!("no queries from bm25_cases.py")
        };
        let queries: Vec<Query> = queries
            .iter()
            .map(|q| {
                let text = q["text"].as_str().expect("a query text").to_owned();
                Query {
                    words: words(&text),
                    text,
                    kind: q["kind"].as_str().expect("a query kind").to_owned(),
                    intended: q["intended"].as_u64().map(|i| i as usize),
                }
            })
            .collect();
        let corpus: Vec<Vec<String>> = tools.iter().map(tool_words).collect();
        let query_words: Vec<Vec<String>> = queries.iter().map(|q| q.words.clone()).collect();
        let theirs = rank_bm25(&[Problem {
            corpus: &corpus,
            queries: &query_words,
        }])
        .pop()
        .expect("one answer");
        Catalog {
            tools,
            corpus,
            queries,
            theirs,
        }
    })
}

/// Whether two scores are the same within [`TOLERANCE`].
fn same(theirs: f64, ours: f64) -> bool {
    ours.is_finite() && (theirs - ours).abs() <= TOLERANCE * theirs.abs().max(ours.abs()).max(1.0)
}

/// The first document with the highest score, as numpy's argmax picks it.
fn top(scores: &[f64]) -> usize {
    scores
        .iter()
        .enumerate()
        .fold(0, |best, (i, s)| if *s > scores[best] { i } else { best })
}

/// Each document where `ours` is not `theirs`, described by `doc`.
fn differences(theirs: &[f64], ours: &[f64], doc: impl Fn(usize) -> String) -> Vec<String> {
    assert_eq!(theirs.len(), ours.len(), "one score per document");
    theirs
        .iter()
        .zip(ours)
        .enumerate()
        .filter(|(_, (t, o))| !same(**t, **o))
        .map(|(i, (t, o))| {
            format!(
                "document {i} ({}): rank-bm25 {t:?}, ours {o:?}, difference {:e}",
                doc(i),
                o - t
            )
        })
        .collect()
}

#[test]
fn scores_are_rank_bm25s_on_the_catalog() {
    let catalog = catalog();
    let index = Index::new(&catalog.corpus);
    let mut failures = Vec::new();
    let mut compared = 0;
    for (q, theirs) in catalog.queries.iter().zip(&catalog.theirs.scores) {
        let ours = index.scores(&q.words);
        compared += ours.len();
        let doc = |i: usize| {
            format!(
                "{:?}, {} words",
                catalog.tools[i]["name"].as_str().unwrap_or_default(),
                catalog.corpus[i].len()
            )
        };
        for why in differences(theirs, &ours, doc) {
            failures.push(format!(
                "{} query {:?} {:?}: {why}",
                q.kind, q.text, q.words
            ));
        }
    }
    fail_with(
        "our score is not rank-bm25's (query, document pairs)",
        &failures,
        compared,
        SHOWN,
    );
}

/// The index is small: the vocabulary as one string and each tool's
/// words as two-byte numbers (this catalog's tools have about 34 words
/// each), at most 16 KiB per hundred tools.
#[test]
fn the_index_takes_a_few_kib_per_hundred_tools() {
    let catalog = catalog();
    let bytes = Index::new(&catalog.corpus).heap_bytes();
    let words: usize = catalog.corpus.iter().map(Vec::len).sum();
    let per_hundred = bytes * 100 / TOOLS;
    eprintln!(
        "BM25 index for {TOOLS} tools ({words} words): {bytes} bytes, {per_hundred} per hundred tools"
    );
    assert!(
        per_hundred <= 16 * 1024,
        "{per_hundred} bytes per hundred tools"
    );
}

#[test]
fn unambiguous_queries_find_their_tool_first() {
    let catalog = catalog();
    let index = Index::new(&catalog.corpus);
    let mut failures = Vec::new();
    let mut checked = 0;
    for (n, q) in catalog.queries.iter().enumerate() {
        let Some(intended) = q.intended else { continue };
        checked += 1;
        let ours = index.scores(&q.words);
        let (our_top, their_top) = (top(&ours), catalog.theirs.top[n]);
        if our_top != intended || their_top != intended {
            let name = |i: usize| catalog.tools[i]["name"].as_str().unwrap_or_default();
            failures.push(format!(
                "query {:?} {:?} is made from tool {intended} {:?} ({}), \
                 but rank-bm25 finds {their_top} {:?} ({}) and ours {our_top} {:?} ({})",
                q.text,
                q.words,
                name(intended),
                ours[intended],
                name(their_top),
                catalog.theirs.scores[n][their_top],
                name(our_top),
                ours[our_top],
            ));
        }
    }
    assert!(checked >= 10, "only {checked} unambiguous queries");
    fail_with(
        "the first tool found is not the intended one (queries)",
        &failures,
        checked,
        SHOWN,
    );
}

#[test]
fn the_catalog_reaches_what_is_hard() {
    let catalog = catalog();
    let n = catalog.corpus.len();
    // How many documents hold each word.
    let mut holding: HashMap<&str, usize> = HashMap::new();
    for doc in &catalog.corpus {
        let mut seen: Vec<&str> = doc.iter().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        for w in seen {
            *holding.entry(w).or_default() += 1;
        }
    }
    let held = |w: &String| holding.get(w.as_str()).copied().unwrap_or(0);
    let query_words = || catalog.queries.iter().flat_map(|q| &q.words);
    let kind = |k: &'static str| catalog.queries.iter().filter(move |q| q.kind == k);
    let lengths: Vec<usize> = catalog.corpus.iter().map(Vec::len).collect();
    let repeats_a_word = |doc: &Vec<String>| {
        let mut sorted = doc.clone();
        sorted.sort_unstable();
        sorted.windows(2).any(|w| w[0] == w[1])
    };
    for (what, count, least) in [
        ("queries", catalog.queries.len(), 50),
        (
            "query words in more than half the tools (negative idf, floored)",
            query_words().filter(|w| held(w) * 2 > n).count(),
            10,
        ),
        (
            "query words in exactly one tool",
            query_words().filter(|w| held(w) == 1).count(),
            20,
        ),
        (
            "query words in no tool",
            query_words().filter(|w| held(w) == 0).count(),
            8,
        ),
        (
            "queries with no words",
            kind("absent").filter(|q| q.words.is_empty()).count(),
            2,
        ),
        (
            "queries with a repeated word",
            catalog
                .queries
                .iter()
                .filter(|q| repeats_a_word(&q.words))
                .count(),
            5,
        ),
        (
            "single-word queries",
            kind("single").filter(|q| q.words.len() == 1).count(),
            10,
        ),
        (
            "tools with a repeated word",
            catalog.corpus.iter().filter(|d| repeats_a_word(d)).count(),
            250,
        ),
        (
            "tools at least twice the shortest's length",
            lengths
                .iter()
                .filter(|l| **l >= 2 * lengths.iter().min().unwrap())
                .count(),
            50,
        ),
    ] {
        assert!(count >= least, "only {count} {what}");
    }
    for q in kind("absent") {
        assert!(
            q.words.is_empty() || q.words.iter().any(|w| held(w) == 0),
            "absent query {:?} has only words some tool has",
            q.text
        );
    }
}

#[test]
fn small_corpora_where_idf_is_zero_or_negative() {
    fn doc(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }
    fn docs(texts: &[&str]) -> Vec<Vec<String>> {
        texts.iter().map(|t| doc(t)).collect()
    }
    let queries = docs(&["a", "a a", "b", "a b c", "c", "x", "", "a x b x"]);
    let corpora: Vec<(&str, Vec<Vec<String>>)> = vec![
        // Every word in the only document: every idf negative.
        ("one document", docs(&["a b"])),
        ("one document, a word twice", docs(&["a a b c"])),
        // `a` in both (negative, floored at ε × a negative average); `b`
        // and `c` in one of two: ln(1.5) − ln(1.5), zero.
        ("two documents sharing a", docs(&["a b", "a c"])),
        // Every idf zero, so the average and the floor are zero too.
        ("two documents sharing nothing", docs(&["a", "b c"])),
        ("two equal documents", docs(&["a b", "a b"])),
        ("an empty document", docs(&["", "a", "a a b"])),
        ("a in all three", docs(&["a", "a b", "a c c c c"])),
        (
            "the unit test's four",
            docs(&[
                "get weather city",
                "get time zone",
                "send email to user",
                "search web",
            ]),
        ),
        (
            "a with half of six",
            docs(&["a b", "a c", "a", "b c", "x y z", "c c c c c c c c"]),
        ),
    ];
    let problems: Vec<Problem> = corpora
        .iter()
        .map(|(_, corpus)| Problem {
            corpus,
            queries: &queries,
        })
        .collect();
    let answers = rank_bm25(&problems);
    let mut failures = Vec::new();
    let mut compared = 0;
    let (mut negative, mut zero) = (0, 0);
    for ((name, corpus), theirs) in corpora.iter().zip(&answers) {
        let index = Index::new(corpus);
        for (query, their_row) in queries.iter().zip(&theirs.scores) {
            let ours = index.scores(query);
            compared += ours.len();
            for why in differences(their_row, &ours, |i| format!("{:?}", corpus[i])) {
                failures.push(format!("{name} {corpus:?}, query {query:?}: {why}"));
            }
            for (i, t) in their_row.iter().enumerate() {
                let holds_some = query.iter().any(|w| corpus[i].contains(w));
                negative += usize::from(*t < 0.0);
                zero += usize::from(*t == 0.0 && holds_some);
            }
        }
    }
    // The corpora reach a negative score and a zero one on a matching word.
    assert!(
        negative >= 5 && zero >= 5,
        "{negative} negative, {zero} zero"
    );
    fail_with(
        "our score is not rank-bm25's on a small corpus (query, document pairs)",
        &failures,
        compared,
        SHOWN,
    );
}
