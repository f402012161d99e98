//! The `backends` mapping: each entry's name, `type`, `group`, and how to
//! reach it (a command for stdio; a URL, headers, auth and TLS for remote
//! ones; an optional command to launch for sse). The per-backend
//! `timeouts`, `filters`, `tool_overrides`, `auth` and `tls` keys are read by
//! their own modules; this one puts the pieces together.

use super::fields::close;
use super::lifecycle::EnvDefaults;
use super::{Cx, Fields, backend_auth, catalog, timeouts, tls};
use crate::config::yaml::{Node, Pos, YamlValue};
use crate::config::{Backend, BackendKind, Launch, Problem, Secret};

/// Backend keys of the original Argus that we accept and ignore.
const BACKEND_EXTRAS: &[&str] = &[
    "container",
    "created_by",
    "updated_by",
    "created_via",
    "updated_via",
    "import_batch_id",
    "metadata_version",
];

/// Backend `type` spellings that are near misses, and what they mean.
const TYPE_HINTS: &[(&str, &str)] = &[
    ("http", "streamable-http"),
    ("https", "streamable-http"),
    ("remote", "streamable-http"),
    ("streamable_http", "streamable-http"),
    ("streamablehttp", "streamable-http"),
    ("streamable", "streamable-http"),
    ("server-sent-events", "sse"),
    ("server_sent_events", "sse"),
    ("local", "stdio"),
    ("process", "stdio"),
];

/// What a backend's `type` says, once read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Declared {
    /// `stdio`.
    Stdio,
    /// `sse`.
    Sse,
    /// `streamable-http`.
    StreamableHttp,
    /// Missing or unknown (reported): the other fields cannot be judged.
    Unknown,
}

/// Whether a backend or group name is 1–64 of `A-Z a-z 0-9 _ - .`.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Backends in config order, each with the position of its name.
pub(super) fn backends(
    cx: &mut Cx<'_>,
    top: &mut Fields<'_>,
    env_defaults: &EnvDefaults,
    tls: &tls::Global,
) -> Vec<(Backend, Pos)> {
    let Some(node) = top.get("backends") else {
        return Vec::new();
    };
    let YamlValue::Map(entries) = &node.value else {
        cx.wrong_type(node, "backends", "a mapping of backend name to backend");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in entries {
        let path = format!("backends.{}", key.name);
        if !valid_name(&key.name) {
            cx.err(
                &path,
                key.pos,
                format!(
                    "backend name \"{}\" must be 1-64 characters of A-Z a-z 0-9 _ - .",
                    key.name
                ),
            );
        }
        if let Some(backend) = backend(cx, &key.name, value, &path, env_defaults, tls) {
            out.push((backend, key.pos));
        }
    }
    out
}

/// One backend entry; `None` when it has a problem (reported). The keys are
/// read in a fixed order: `type`, `group`, `timeouts`, `filters`,
/// `tool_overrides`, then the transport's own.
fn backend(
    cx: &mut Cx<'_>,
    name: &str,
    node: &Node,
    path: &str,
    env_defaults: &EnvDefaults,
    global_tls: &tls::Global,
) -> Option<Backend> {
    let mut f = cx.fields(node, path)?;
    // A `type` that is not a string at all skips the entry's other keys.
    let declared = declared_type(cx, &mut f, path, node)?;
    let group = group(cx, &mut f);
    let is_stdio = declared == Declared::Stdio;
    let timeouts = timeouts::timeouts(cx, &mut f, is_stdio, env_defaults);
    let filters = catalog::filters(cx, &mut f);
    let tool_overrides = catalog::tool_overrides(cx, &mut f);
    let kind = match declared {
        Declared::Stdio => launch(cx, &mut f, true).map(BackendKind::Stdio),
        Declared::Sse | Declared::StreamableHttp => remote(
            cx,
            &mut f,
            declared == Declared::Sse,
            path,
            node,
            global_tls,
        ),
        Declared::Unknown => {
            // The type is unknown: its fields cannot be judged.
            f.used.iter_mut().for_each(|u| *u = true);
            None
        }
    };
    f.finish(cx, BACKEND_EXTRAS);
    Some(Backend {
        name: name.to_owned(),
        group,
        kind: kind?,
        timeouts: timeouts?,
        filters,
        tool_overrides,
    })
}

/// The `type` key. `None` when its value is not a string (reported);
/// [`Declared::Unknown`] when it is missing or names no transport
/// (reported, with a hint for near misses like `http`).
fn declared_type(cx: &mut Cx<'_>, f: &mut Fields<'_>, path: &str, node: &Node) -> Option<Declared> {
    let Some(n) = f.get("type") else {
        cx.err(
            path,
            node.pos,
            "missing required field \"type\" (one of stdio, sse, streamable-http)",
        );
        return Some(Declared::Unknown);
    };
    let p = f.child("type");
    let t = cx.string(n, &p)?;
    let declared = match t.trim() {
        "stdio" => Declared::Stdio,
        "sse" => Declared::Sse,
        "streamable-http" => Declared::StreamableHttp,
        other => {
            let lower = other.to_ascii_lowercase();
            let hint = TYPE_HINTS
                .iter()
                .find(|(alias, _)| *alias == lower)
                .map(|(_, real)| *real)
                .or_else(|| {
                    ["stdio", "sse", "streamable-http"]
                        .into_iter()
                        .find(|real| *real == lower || close(real, &lower))
                })
                .map(|real| format!("; did you mean \"{real}\"?"))
                .unwrap_or_default();
            cx.err(
                &p,
                n.pos,
                format!(
                    "unknown backend type \"{other}\" (expected stdio, sse or streamable-http){hint}"
                ),
            );
            Declared::Unknown
        }
    };
    Some(declared)
}

/// `group`, `default` when absent; an invalid name is reported and kept.
fn group(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> String {
    let Some(n) = f.get("group") else {
        return "default".to_owned();
    };
    let p = f.child("group");
    let g = cx.nonempty(n, &p);
    if let Some(g) = &g
        && !valid_name(g)
    {
        cx.err(
            &p,
            n.pos,
            format!("group \"{g}\" must be 1-64 characters of A-Z a-z 0-9 _ - ."),
        );
    }
    g.unwrap_or_default()
}

/// An `sse` or `streamable-http` backend's transport keys: `url`,
/// `headers`, `auth`, `tls`, and for sse an optional process to launch.
fn remote(
    cx: &mut Cx<'_>,
    f: &mut Fields<'_>,
    sse: bool,
    path: &str,
    node: &Node,
    global_tls: &tls::Global,
) -> Option<BackendKind> {
    let (url, url_pos) = match f.get("url") {
        Some(n) => (cx.url(n, &f.child("url")), n.pos),
        None => {
            cx.err(path, node.pos, "missing required field \"url\"");
            (None, node.pos)
        }
    };
    let headers = headers(cx, f);
    let auth = backend_auth::auth(cx, f);
    let located = url.as_deref().map(|u| (u, url_pos, f.child("url")));
    let tls = tls::backend(cx, f, global_tls, located);
    if sse {
        let launch = launch(cx, f, false);
        url.zip(tls).map(|(url, tls)| BackendKind::Sse {
            url,
            headers,
            auth,
            tls,
            launch,
        })
    } else {
        url.zip(tls).map(|(url, tls)| BackendKind::StreamableHttp {
            url,
            headers,
            auth,
            tls,
        })
    }
}

/// `command`/`args`/`env`; required for stdio, optional for sse.
fn launch(cx: &mut Cx<'_>, f: &mut Fields<'_>, required: bool) -> Option<Launch> {
    let command = f.get("command");
    let args = f.get("args");
    let env = f.get("env");
    let Some(command_node) = command else {
        if required {
            cx.problems.push(Problem {
                path: f.path.clone(),
                pos: f.entries.first().map(|(k, _)| k.pos),
                message: "missing required field \"command\"".into(),
            });
        } else if let Some(n) = args.or(env) {
            cx.err(
                &f.path,
                n.pos,
                "\"args\" and \"env\" need a \"command\" to launch",
            );
        }
        return None;
    };
    let command = cx.nonempty(command_node, &f.child("command"));
    let args = args.map_or_else(Vec::new, |n| cx.string_list(n, &f.child("args")));
    let env = env.map_or_else(Vec::new, |n| cx.string_map(n, &f.child("env")));
    Some(Launch {
        command: command?,
        args,
        env,
    })
}

/// A remote backend's `headers`, sent with every request.
fn headers(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Vec<(String, Secret)> {
    f.get("headers")
        .map_or_else(Vec::new, |n| cx.headers(n, &f.child("headers")))
}
