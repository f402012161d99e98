use std::time::Duration;

use super::*;

fn temp(tag: &str) -> PathBuf {
    let id = crate::random::hex_id(6).unwrap();
    std::env::temp_dir().join(format!("argus-audit-{tag}-{id}.jsonl"))
}

fn fields(name: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("name".into(), Value::from(name));
    m
}

/// Verifies one file's text.
fn check(text: &str) -> Result<Report, Broken> {
    verify(&[("f", text.as_bytes())], Options::default())
}

fn join(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn the_chain_continues_across_restarts_and_tampering_is_found() {
    let path = temp("chain");
    {
        let log = AuditLog::open(&path, false).unwrap();
        log.record("call", fields("a")).unwrap();
        log.record("call", fields("b")).unwrap();
    }
    let log = AuditLog::open(&path, false).unwrap();
    log.record("call", fields("c")).unwrap();
    drop(log);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(check(&text).unwrap().records, 3);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains(GENESIS));
    let edited = join(&[lines[0], &lines[1].replace("\"b\"", "\"x\""), lines[2]]);
    assert_eq!(check(&edited).unwrap_err().line, 2);
    assert!(check(&edited).unwrap_err().why.contains("edited"));
    let deleted = join(&[lines[0], lines[2]]);
    assert!(check(&deleted).unwrap_err().why.contains("deleted"));
    let reordered = join(&[lines[0], lines[2], lines[1]]);
    assert!(check(&reordered).unwrap_err().why.contains("reordered"));
    let swapped = join(&[lines[1], lines[0], lines[2]]);
    assert!(check(&swapped).is_err());
    // Head records gone: the log no longer starts at seq 1.
    let headless = join(&[lines[1], lines[2]]);
    assert!(check(&headless).unwrap_err().why.contains("head record"));
    let partial = Options {
        allow_partial: true,
        ..Options::default()
    };
    let report = verify(&[("f", headless.as_bytes())], partial).unwrap();
    assert_eq!(report.first_seq, 2);
    // Line ends converted: the bytes hashed are not these.
    let crlf = text.replace('\n', "\r\n");
    assert!(check(&crlf).unwrap_err().why.contains("CRLF"));
    let truncated = &text[..text.len() - 10];
    assert!(check(truncated).unwrap_err().why.contains("truncated"));
    // A torn last line: the next run starts a new line; verify names it.
    std::fs::write(&path, truncated).unwrap();
    let log = AuditLog::open(&path, false).unwrap();
    log.record("call", fields("d")).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(check(&text).unwrap_err().line, 3);
    let _ = std::fs::remove_file(&path);
}

/// Made by `openssl genpkey -algorithm ed25519`, and its public half.
const PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIDk5cA4MYZGXtF/JpOtyx2liZbxSF/NXm8EJH0FfSubD
-----END PRIVATE KEY-----
";

fn public_pem(private: &str) -> String {
    use ring::signature::{Ed25519KeyPair, KeyPair as _};
    let der = crate::base64::decode(private.lines().nth(1).unwrap()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).unwrap();
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(pair.public_key().as_ref());
    let b64 = crate::base64::encode(&spki);
    format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
}

/// A signed log at a temp path, checkpointing every `every` records,
/// rotating past `max` bytes into 2 backups.
fn signed(tag: &str, every: u64, max: Option<u64>) -> (PathBuf, Arc<AuditLog>) {
    let path = temp(tag);
    let key = path.with_extension("key");
    std::fs::write(&key, PRIVATE).unwrap();
    let audit = Audit {
        enabled: true,
        file: path.clone(),
        required: false,
        signing_key: Some(key),
        checkpoint_every: every,
        checkpoint_seconds: Duration::from_secs(3600),
        origin: "test".into(),
        max_bytes: max,
        backup_count: 2,
    };
    (path, AuditLog::open_configured(&audit).unwrap())
}

#[test]
fn checkpoints_sign_the_chain_and_catch_what_the_chain_cannot() {
    let (path, log) = signed("signed", 3, None);
    for name in ["a", "b", "c", "d", "e", "f", "g"] {
        log.record("call", fields(name)).unwrap();
    }
    log.close();
    let text = std::fs::read_to_string(&path).unwrap();
    let verifier = Verifier::from_pem(&public_pem(PRIVATE)).unwrap();
    let signed = |text: &str, kept: Option<&[u8]>| {
        let options = Options {
            key: Some(&verifier),
            checkpoints: kept,
            allow_partial: false,
        };
        verify(&[("f", text.as_bytes())], options)
    };
    // 7 calls and 3 checkpoints (after 3, after 6, at close).
    let report = signed(&text, None).unwrap();
    assert_eq!(
        (report.records, report.checkpoints, report.unsigned_tail),
        (10, 3, 0)
    );
    let kept = std::fs::read(checkpoints_path(&path)).unwrap();
    assert_eq!(kept.split(|b| *b == b'\n').count(), 4);
    assert!(signed(&text, Some(&kept)).is_ok());

    // The last record, covered by the closing checkpoint.
    let lines: Vec<&str> = text.lines().collect();
    let mut edited = lines.clone();
    let last_call = edited[8].replace("\"g\"", "\"z\"");
    edited[8] = &last_call;
    assert!(
        signed(&join(&edited), None)
            .unwrap_err()
            .why
            .contains("edited")
    );

    // A re-chained forgery: record "b" deleted, everything after it
    // renumbered and re-hashed. The chain holds; the checkpoints do not.
    let forged = rechain(&[&lines[..1], &lines[2..]].concat());
    assert!(check(&forged).is_ok());
    let broken = signed(&forged, None).unwrap_err();
    assert!(broken.why.starts_with("checkpoint"), "{broken:?}");

    // Cut back past the last checkpoint: only the kept copies tell.
    let cut = join(&lines[..9]);
    assert_eq!(signed(&cut, None).unwrap().unsigned_tail, 1);
    let broken = signed(&cut, Some(&kept)).unwrap_err();
    assert!(broken.why.contains("cut"), "{broken:?}");

    // Another key.
    let other = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIDb6+XjkBVK9YvVd4Vdti5qaWqHAqkR8IXzKhBJI5c2I
-----END PRIVATE KEY-----
";
    let stranger = Verifier::from_pem(&public_pem(other)).unwrap();
    let options = Options {
        key: Some(&stranger),
        ..Options::default()
    };
    let broken = verify(&[("f", text.as_bytes())], options).unwrap_err();
    assert!(broken.why.contains("another key"), "{broken:?}");
    for p in [
        path.clone(),
        checkpoints_path(&path),
        path.with_extension("key"),
    ] {
        let _ = std::fs::remove_file(p);
    }
}

/// `lines` renumbered from 1 and chained again, as a forger would.
fn rechain(lines: &[&str]) -> String {
    let mut prev = GENESIS.to_owned();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let mut record: Map<String, Value> = serde_json::from_str(line).unwrap();
        record.insert("seq".into(), Value::from(i as u64 + 1));
        record.insert("prev".into(), Value::from(prev.clone()));
        let text = format!("{}\n", Value::Object(record));
        prev = sha256::hex(text.as_bytes());
        out.push_str(&text);
    }
    out
}

#[test]
fn rotation_keeps_the_chain_across_files_and_a_missing_one_is_named() {
    let (path, log) = signed("rotate", 1000, Some(600));
    for i in 0..12 {
        log.record("call", fields(&format!("record number {i}")))
            .unwrap();
    }
    log.close();
    let numbered = |i: u32| PathBuf::from(format!("{}.{i}", path.display()));
    let read = |p: &Path| std::fs::read(p).unwrap();
    let (two, one, now) = (read(&numbered(2)), read(&numbered(1)), read(&path));
    assert!(!std::fs::exists(numbered(3)).unwrap());
    let verifier = Verifier::from_pem(&public_pem(PRIVATE)).unwrap();
    let options = Options {
        key: Some(&verifier),
        checkpoints: None,
        allow_partial: true,
    };
    let files = [("f.2", &two[..]), ("f.1", &one[..]), ("f", &now[..])];
    let report = verify(&files, options).unwrap();
    assert_eq!(report.unsigned_tail, 0);
    assert!(report.checkpoints >= 3, "{report:?}");
    let broken = verify(&[("f.2", &two[..]), ("f", &now[..])], options).unwrap_err();
    assert!(broken.why.contains("file missing"), "{broken:?}");
    for p in [
        path.clone(),
        numbered(1),
        numbered(2),
        checkpoints_path(&path),
    ] {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::fs::remove_file(path.with_extension("key"));
}
