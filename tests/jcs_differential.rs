//! RFC 8785 canonical JSON (`jcs::canonical`) against an independent
//! implementation, the Python `rfc8785` package pinned by tests/run-all.sh.
//! tests/py/jcs_cases.py writes hand-written edge cases (RFC 8785's own
//! examples among them) and a few thousand generated documents, each with
//! `rfc8785`'s canonical form of its JSON text; ours must be the same string.
//! A last test holds vectors written out here, some outside what `rfc8785`
//! accepts (integers beyond 2^53).

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::RecvTimeoutError;
use std::thread;
use std::time::{Duration, Instant};

use argus_mcp::jcs::canonical;
use serde_json::{Value, json};

use crate::support::{READ_TIMEOUT, Reaped, collected, lines_of, python};

/// Generated documents, on top of the hand-written ones.
const GENERATED: usize = 3000;
/// Failures shown in full; the rest are only counted.
const SHOWN: usize = 10;
/// How long the generator may take in all (it needs about a second).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// One document with `rfc8785`'s canonical form of it.
struct Case {
    /// `edge/<name>/<i>` or `generated/<n>`.
    label: String,
    /// The document's JSON text.
    doc: String,
    canonical: String,
}

/// The generator's documents, read once for all the tests here.
fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let started = Instant::now();
        let mut cmd = Command::new(python());
        cmd.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/jcs_cases.py"
        ))
        .arg(GENERATED.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = Reaped(cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")));
        let lines = lines_of(child.0.stdout.take().unwrap());
        let stderr = collected(child.0.stderr.take().unwrap());

        let mut cases = Vec::new();
        loop {
            assert!(
                started.elapsed() < RUN_TIMEOUT,
                "jcs_cases.py took too long"
            );
            match lines.recv_timeout(READ_TIMEOUT) {
                Ok(line) => {
                    let mut case: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("bad line from jcs_cases.py: {e}: {line}"));
                    let mut text = |name: &str| match case[name].take() {
                        Value::String(s) => s,
                        other => panic!("{name} is not a string in {line}: {other}"),
                    };
                    cases.push(Case {
                        label: text("case"),
                        doc: text("doc"),
                        canonical: text("canonical"),
                    });
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("jcs_cases.py wrote nothing for {READ_TIMEOUT:?}")
                }
            }
        }
        let deadline = Instant::now() + READ_TIMEOUT;
        let status = loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "jcs_cases.py did not exit");
            thread::sleep(Duration::from_millis(20));
        };
        assert!(
            status.success(),
            "jcs_cases.py failed ({status}):\n{}",
            stderr.lock().unwrap()
        );
        let generated = cases
            .iter()
            .filter(|c| c.label.starts_with("generated/"))
            .count();
        assert_eq!(generated, GENERATED);
        cases
    })
}

/// Fails with the first [`SHOWN`] reports and the count of all.
fn report(what: &str, failures: &[String], of: usize) {
    crate::support::fail_with(&format!("{what} (documents)"), failures, of, SHOWN);
}

/// Where `ours` first departs from `theirs`, with a little either side.
fn first_difference(theirs: &str, ours: &str) -> String {
    /// Characters shown either side of the difference.
    const AROUND: usize = 24;
    let at = theirs
        .char_indices()
        .zip(ours.chars())
        .find(|((_, a), b)| a != b)
        .map_or(theirs.len().min(ours.len()), |((i, _), _)| i);
    let before: String = {
        let mut tail: Vec<char> = theirs[..at].chars().rev().take(AROUND).collect();
        tail.reverse();
        tail.into_iter().collect()
    };
    let after = |s: &str| s[at..].chars().take(AROUND).collect::<String>();
    format!(
        "rfc8785 {:?}, ours {:?} (byte {at})",
        before.clone() + &after(theirs),
        before + &after(ours)
    )
}

#[test]
fn ours_is_rfc8785s_on_every_document() {
    let cases = cases();
    let mut failures = Vec::new();
    for case in cases {
        let value: Value = serde_json::from_str(&case.doc).unwrap_or_else(|e| {
            panic!("{}: serde_json cannot read {:?}: {e}", case.label, case.doc)
        });
        let ours = canonical(&value);
        if ours != case.canonical {
            // Debug spelling, so control characters show.
            failures.push(format!(
                "{}: {}\n  doc:     {:?}\n  rfc8785: {:?}\n  ours:    {ours:?}",
                case.label,
                first_difference(&case.canonical, &ours),
                case.doc,
                case.canonical
            ));
        }
    }
    report(
        "our canonical form differs from rfc8785's",
        &failures,
        cases.len(),
    );
}

/// What makes canonical JSON hard, counted over a document.
#[derive(Default)]
struct Reach {
    /// Objects whose member order by UTF-16 is not the order by code point.
    utf16_order: usize,
    /// Numbers written as `de+n` and `de-n`.
    big_exponent: usize,
    small_exponent: usize,
    /// Strings (names included) with a control character.
    controls: usize,
}

impl Reach {
    fn add(&mut self, value: &Value) {
        match value {
            Value::Number(_) => {
                let text = canonical(value);
                self.big_exponent += usize::from(text.contains("e+"));
                self.small_exponent += usize::from(text.contains("e-"));
            }
            Value::String(s) => self.string(s),
            Value::Array(items) => items.iter().for_each(|v| self.add(v)),
            Value::Object(map) => {
                let by_code_point: Vec<&String> = {
                    let mut names: Vec<&String> = map.keys().collect();
                    names.sort();
                    names
                };
                let mut by_utf16 = by_code_point.clone();
                by_utf16.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
                self.utf16_order += usize::from(by_code_point != by_utf16);
                for (name, v) in map {
                    self.string(name);
                    self.add(v);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    fn string(&mut self, s: &str) {
        self.controls += usize::from(s.chars().any(|c| c < ' '));
    }
}

#[test]
fn the_documents_reach_what_is_hard() {
    let mut reach = Reach::default();
    for case in cases().iter().filter(|c| c.label.starts_with("generated/")) {
        reach.add(&serde_json::from_str(&case.doc).unwrap());
    }
    for (what, count) in [
        (
            "objects whose UTF-16 order is not their code point order",
            reach.utf16_order,
        ),
        ("numbers with a positive exponent", reach.big_exponent),
        ("numbers with a negative exponent", reach.small_exponent),
        ("strings with control characters", reach.controls),
    ] {
        assert!(count >= 200, "only {count} {what}");
    }
}

#[test]
fn hand_written_vectors() {
    let from_text = |text: &str| serde_json::from_str::<Value>(text).unwrap();
    let mut vectors: Vec<(Value, &str)> = vec![
        (
            json!({"b": 1, "a": [1.0, "\u{20ac}", 1e21, 1e-7]}),
            "{\"a\":[1,\"\u{20ac}\",1e+21,1e-7],\"b\":1}",
        ),
        // RFC 8785 3.2.2 and 3.2.3.
        (
            from_text(
                r#"{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
                    "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
                    "literals": [null, true, false]}"#,
            ),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#,
        ),
        (
            from_text(
                r#"{"\u20ac": "Euro Sign", "\r": "Carriage Return",
                    "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One",
                    "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control",
                    "\u00f6": "Latin Small Letter O With Diaeresis"}"#,
            ),
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
             \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
             \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}",
        ),
        // A surrogate pair sorts before U+E000 to U+FFFF; a prefix first.
        (
            json!({"\u{e000}": 1, "\u{1f600}": 2, "\u{ffff}": 3, "\u{d7ff}": 4, "a\u{1f600}": 5, "a": 6}),
            "{\"a\":6,\"a\u{1f600}\":5,\"\u{d7ff}\":4,\"\u{1f600}\":2,\"\u{e000}\":1,\"\u{ffff}\":3}",
        ),
        // Only `"`, `\` and control characters are escaped.
        (
            json!("\u{0}\u{8}\t\n\u{b}\u{c}\r\u{1f} \"\\/\u{7f}\u{80}\u{2028}\u{2029}\u{feff}"),
            "\"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f \\\"\\\\/\u{7f}\u{80}\u{2028}\u{2029}\u{feff}\"",
        ),
        (
            from_text(" { \"a\" : 1.50e1 , \"b\" : [ ] , \"c\" : { } } "),
            "{\"a\":15,\"b\":[],\"c\":{}}",
        ),
        (json!(-0.0), "0"),
        (from_text("-0"), "0"),
        // Integers go through a double, as in ECMAScript (rfc8785 refuses them).
        (json!(9007199254740993u64), "9007199254740992"),
        (json!(u64::MAX), "18446744073709552000"),
        (json!(i64::MIN), "-9223372036854776000"),
        (
            json!(123456789012345678901u128 as f64),
            "123456789012345680000",
        ),
    ];
    // RFC 8785 appendix B, by IEEE 754 bits (NaN and Infinity are not JSON).
    for (bits, text) in [
        (0x0000000000000000, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7fefffffffffffff, "1.7976931348623157e+308"),
        (0xffefffffffffffff, "-1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"),
        (0xc340000000000000, "-9007199254740992"),
        (0x4430000000000000, "295147905179352830000"),
        (0x44b52d02c7e14af5, "9.999999999999997e+22"),
        (0x44b52d02c7e14af6, "1e+23"),
        (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
        (0x444b1ae4d6e2ef4e, "999999999999999700000"),
        (0x444b1ae4d6e2ef4f, "999999999999999900000"),
        (0x444b1ae4d6e2ef50, "1e+21"),
        (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
        (0x3eb0c6f7a0b5ed8d, "0.000001"),
        (0x41b3de4355555553, "333333333.3333332"),
        (0x41b3de4355555554, "333333333.33333325"),
        (0x41b3de4355555555, "333333333.3333333"),
        (0x41b3de4355555556, "333333333.3333334"),
        (0x41b3de4355555557, "333333333.33333343"),
        (0xbecbf647612f3696, "-0.0000033333333333333333"),
        (0x43143ff3c1cb0959, "1424953923781206.2"),
    ] {
        vectors.push((json!(f64::from_bits(bits)), text));
    }
    let failures: Vec<String> = vectors
        .iter()
        .filter_map(|(value, expected)| {
            let ours = canonical(value);
            (ours != *expected)
                .then(|| format!("{value}\n  expected: {expected:?}\n  ours:     {ours:?}"))
        })
        .collect();
    report(
        "not the canonical form written here",
        &failures,
        vectors.len(),
    );
}
