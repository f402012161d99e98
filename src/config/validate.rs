//! Walks the YAML node tree into a typed [`Config`], collecting every problem.
//!
//! Each section has one function that takes its fields by name from a
//! [`Fields`] view; whatever is left over at the end is an unknown key (an
//! error with a "did you mean" hint) or a known Argus extra (a warning,
//! PRODUCT §3.4). String values get `${VAR}` expansion as they are read.
//! Numbers accept numeric strings too, so `port: "${PORT}"` works. Files the
//! config names are checked here too, without creating anything (TLS files
//! read, the audit log's folder and file looked at), so that `check`
//! refuses what the server would refuse at start.

use std::path::PathBuf;
use std::time::Duration;

use super::yaml::{self, Key, Node, Pos, YamlValue};
use super::{
    Audit, Auth, Backend, BackendKind, CatalogNames, Config, Conflict, Filter, Filters,
    IncomingAuth, Launch, Lifecycle, NameCharset, OAuth2, Problem, RateLimits, Secret, Security,
    SseResilience, Strategy, Timeouts, ToolOverride, expand,
};
use crate::glob::Glob;
use crate::limits;

mod server;
mod tls;
use server::server;

type Env<'e> = &'e dyn Fn(&str) -> Option<String>;

/// Top-level keys of the original Argus that we accept and ignore.
const TOP_EXTRAS: &[&str] = &[
    "secrets",
    "retry",
    "http_pool",
    "session_pool",
    "authorization",
    "optimizer",
    "telemetry",
    "registries",
    "feature_flags",
    "plugins",
    "skills",
    "workflows",
    "client",
];
const BACKEND_EXTRAS: &[&str] = &[
    "container",
    "created_by",
    "updated_by",
    "created_via",
    "updated_via",
    "import_batch_id",
    "metadata_version",
];
const INCOMING_AUTH_EXTRAS: &[&str] =
    &["auth_mode", "jwks_uri", "issuer", "audience", "algorithms"];
const SECURITY_EXTRAS: &[&str] = &[
    "headers",
    "payload_limits",
    "allow_weak_tokens",
    "require_origin",
    "trusted_proxies",
    "redact_status",
];
const RATE_LIMIT_EXTRAS: &[&str] = &[
    "default",
    "auth_lockout_threshold",
    "auth_lockout_window_seconds",
    "auth_lockout_duration_seconds",
];
const SSE_EXTRAS: &[&str] = &["spin_loop_window", "spin_loop_threshold"];
const AUDIT_EXTRAS: &[&str] = &["max_size_mb", "backup_count"];

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

pub(super) fn from_text(text: &str, env: Env<'_>) -> Result<Config, Vec<Problem>> {
    let root = yaml::parse(text).map_err(|e| {
        vec![Problem {
            path: String::new(),
            pos: e.pos,
            message: format!("invalid YAML: {}", e.message),
        }]
    })?;
    // A repeated key would be read once and reported as unknown the second
    // time; say what it is, once per repetition, and nothing else.
    let repeated = yaml::duplicates(&root);
    if !repeated.is_empty() {
        return Err(repeated
            .into_iter()
            .map(|d| Problem {
                path: d.path,
                pos: Some(d.again),
                message: format!("duplicate key \"{}\" (first at {})", d.key, d.first),
            })
            .collect());
    }
    let mut cx = Cx {
        env,
        problems: Vec::new(),
        warnings: Vec::new(),
        expanded: Vec::new(),
    };
    let mut top = match &root.value {
        YamlValue::Map(_) | YamlValue::Null => cx.fields(&root, ""),
        other => {
            return Err(vec![Problem {
                path: String::new(),
                pos: Some(root.pos),
                message: format!("the top level must be a mapping, found {}", other.kind()),
            }]);
        }
    }
    .unwrap_or_default();

    let server = server(&mut cx, &mut top);
    let lifecycle = lifecycle(&mut cx);
    let tls = tls::global(&mut cx, &mut top);
    let backends = backends(&mut cx, &mut top, &lifecycle, &tls);
    let conflict = conflict(&mut cx, &mut top, &backends);
    let incoming_auth = incoming_auth(&mut cx, &mut top);
    let security = security(&mut cx, &mut top);
    let sse = sse_resilience(&mut cx, &mut top);
    let rate_limits = rate_limits(&mut cx, &mut top);
    let audit = audit(&mut cx, &mut top);
    let names = catalog_names(&mut cx, &mut top);
    // The original's schema version: nothing to configure, so accepted
    // silently, whatever its value.
    let _ = top.get("version");
    top.finish(&mut cx, TOP_EXTRAS);

    if !cx.problems.is_empty() {
        cx.problems
            .sort_by_key(|p| p.pos.map(|p| (p.line, p.column)));
        return Err(cx.problems);
    }
    Ok(Config {
        source: None,
        server,
        backends: backends.into_iter().map(|(b, _)| b).collect(),
        conflict,
        incoming_auth,
        security,
        sse,
        rate_limits,
        audit,
        names,
        lifecycle: lifecycle.0,
        warnings: cx.warnings,
    })
}

/// Expanded values shorter than this are left in messages: too short to be
/// secrets, and replacing them would garble the text ("between 1 and 10").
const MIN_HIDDEN_VALUE: usize = 4;

/// The validation context: where problems and warnings collect.
struct Cx<'e> {
    env: Env<'e>,
    problems: Vec<Problem>,
    warnings: Vec<String>,
    /// (expanded value, the `${...}` text it came from), for [`Cx::unexpanded`].
    expanded: Vec<(String, String)>,
}

/// The fields of one mapping, taken by name; the rest are reported by `finish`.
#[derive(Default)]
struct Fields<'n> {
    path: String,
    entries: &'n [(Key, Node)],
    used: Vec<bool>,
    known: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    /// Takes `key`'s value; a `null` value counts as absent.
    fn get(&mut self, key: &'static str) -> Option<&'n Node> {
        self.known.push(key);
        let entries = self.entries;
        let index = entries.iter().position(|(k, _)| k.name == key)?;
        self.used[index] = true;
        let node = &entries[index].1;
        (!matches!(node.value, YamlValue::Null)).then_some(node)
    }

    /// The dotted path of a child key.
    fn child(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Reports keys nobody took: known extras warn, the rest are errors.
    fn finish(self, cx: &mut Cx<'_>, extras: &[&str]) {
        for ((key, _), used) in self.entries.iter().zip(&self.used) {
            if *used {
                continue;
            }
            let path = join(&self.path, &key.name);
            if extras.contains(&key.name.as_str()) {
                cx.warnings.push(format!(
                    "ignoring \"{path}\" (line {}): an Argus feature argus-mcp does not have",
                    key.pos.line
                ));
                continue;
            }
            let hint = self
                .known
                .iter()
                .find(|k| close(k, &key.name))
                .map(|k| format!("; did you mean \"{k}\"?"))
                .unwrap_or_default();
            cx.err(
                &path,
                key.pos,
                format!("unknown key \"{}\"{hint}", key.name),
            );
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Whether two keys are one or two edits apart (typo hints).
fn close(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 2 {
        return false;
    }
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let next = (prev + cost).min(row[j] + 1).min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()] <= 2
}

impl<'e> Cx<'e> {
    fn err(&mut self, path: &str, pos: Pos, message: impl Into<String>) {
        let message = self.unexpanded(message.into());
        self.problems.push(Problem {
            path: path.to_owned(),
            pos: Some(pos),
            message,
        });
    }

    /// `message` with every expanded value put back as the `${...}` text it
    /// came from: errors never echo what a variable holds (a secret, often).
    fn unexpanded(&self, mut message: String) -> String {
        for (value, raw) in &self.expanded {
            if value.len() >= MIN_HIDDEN_VALUE && message.contains(value.as_str()) {
                message = message.replace(value.as_str(), raw);
            }
        }
        message
    }

    fn wrong_type(&mut self, node: &Node, path: &str, expected: &str) {
        self.err(
            path,
            node.pos,
            format!("expected {expected}, found {}", node.value.kind()),
        );
    }

    /// A mapping's fields; `null` is an empty mapping.
    fn fields<'n>(&mut self, node: &'n Node, path: &str) -> Option<Fields<'n>> {
        let entries: &'n [(Key, Node)] = match &node.value {
            YamlValue::Map(entries) => entries,
            YamlValue::Null => &[],
            _ => {
                self.wrong_type(node, path, "a mapping");
                return None;
            }
        };
        Some(Fields {
            path: path.to_owned(),
            entries,
            used: vec![false; entries.len()],
            known: Vec::new(),
        })
    }

    /// The text of a scalar after `${VAR}` expansion. Numbers and booleans are
    /// not strings: a config that means a string should quote it.
    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            YamlValue::Str(s) => match expand(s, self.env) {
                Ok(v) => {
                    if s.contains("${") && v != *s {
                        self.expanded.push((v.clone(), s.clone()));
                    }
                    Some(v)
                }
                Err(e) => {
                    self.err(path, node.pos, e.to_string());
                    None
                }
            },
            YamlValue::Int(_) | YamlValue::Float(_) | YamlValue::Bool(_) => {
                self.err(
                    path,
                    node.pos,
                    format!("expected a string, found {} (quote it)", node.value.kind()),
                );
                None
            }
            _ => {
                self.wrong_type(node, path, "a string");
                None
            }
        }
    }

    fn nonempty(&mut self, node: &Node, path: &str) -> Option<String> {
        let s = self.string(node, path)?;
        let trimmed = s.trim();
        if trimmed.is_empty() {
            self.err(path, node.pos, "must not be empty");
            return None;
        }
        Some(trimmed.to_owned())
    }

    fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.value {
            YamlValue::Bool(b) => Some(*b),
            YamlValue::Str(_) => match self.string(node, path)?.trim() {
                "true" => Some(true),
                "false" => Some(false),
                other => {
                    self.err(
                        path,
                        node.pos,
                        format!("expected true or false, found \"{other}\""),
                    );
                    None
                }
            },
            _ => {
                self.wrong_type(node, path, "true or false");
                None
            }
        }
    }

    /// A number (integer or float), also from a numeric string.
    fn number(&mut self, node: &Node, path: &str) -> Option<f64> {
        let value = match &node.value {
            YamlValue::Int(i) => *i as f64,
            YamlValue::Float(f) => *f,
            YamlValue::Str(_) => {
                let s = self.string(node, path)?;
                match s.trim().parse::<f64>() {
                    Ok(v) => v,
                    Err(_) => {
                        self.err(path, node.pos, format!("expected a number, found \"{s}\""));
                        return None;
                    }
                }
            }
            _ => {
                self.wrong_type(node, path, "a number");
                return None;
            }
        };
        if !value.is_finite() {
            self.err(path, node.pos, "must be a finite number");
            return None;
        }
        Some(value)
    }

    fn int(&mut self, node: &Node, path: &str, lo: i64, hi: i64) -> Option<i64> {
        let value = self.number(node, path)?;
        if value.fract() != 0.0 {
            self.err(
                path,
                node.pos,
                format!("expected a whole number, found {value}"),
            );
            return None;
        }
        // Both bounds are far inside f64's exact integer range.
        if value < lo as f64 || value > hi as f64 {
            self.err(
                path,
                node.pos,
                format!("must be between {lo} and {hi}, found {value}"),
            );
            return None;
        }
        Some(value as i64)
    }

    fn seconds(&mut self, node: &Node, path: &str, lo: f64, hi: f64) -> Option<Duration> {
        let value = self.number(node, path)?;
        if value < lo || value > hi {
            self.err(
                path,
                node.pos,
                format!("must be between {lo} and {hi} seconds, found {value}"),
            );
            return None;
        }
        Some(Duration::from_secs_f64(value))
    }

    fn string_list(&mut self, node: &Node, path: &str) -> Vec<String> {
        let YamlValue::Seq(items) = &node.value else {
            self.wrong_type(node, path, "a list");
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.string(item, &format!("{path}[{i}]")))
            .collect()
    }

    fn string_map(&mut self, node: &Node, path: &str) -> Vec<(String, Secret)> {
        let YamlValue::Map(entries) = &node.value else {
            self.wrong_type(node, path, "a mapping");
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|(key, value)| {
                let child = join(path, &key.name);
                let value = self.string(value, &child)?;
                Some((key.name.clone(), Secret(value)))
            })
            .collect()
    }

    fn url(&mut self, node: &Node, path: &str) -> Option<String> {
        let url = self.nonempty(node, path)?;
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        match rest {
            None => self.err(
                path,
                node.pos,
                format!("URL \"{url}\" must start with http:// or https://"),
            ),
            Some(rest) if rest.split(['/', '?', '#']).next().unwrap_or("").is_empty() => {
                self.err(path, node.pos, format!("URL \"{url}\" has no host"))
            }
            Some(rest) if rest.chars().any(|c| c.is_whitespace() || c.is_control()) => self.err(
                path,
                node.pos,
                "URL must not contain spaces or control characters",
            ),
            Some(_) => return Some(url),
        }
        None
    }

    fn headers(&mut self, node: &Node, path: &str) -> Vec<(String, Secret)> {
        let headers = self.string_map(node, path);
        let YamlValue::Map(entries) = &node.value else {
            return headers;
        };
        for (key, value) in entries {
            if key.name.is_empty() || !key.name.bytes().all(crate::http::is_token_byte) {
                self.err(
                    &join(path, &key.name),
                    key.pos,
                    "not a valid HTTP header name",
                );
            }
            // On the expanded value: a variable may carry the line break.
            let expanded = headers.iter().find(|(n, _)| *n == key.name);
            if let Some((_, v)) = expanded
                && (v.0.contains('\r') || v.0.contains('\n'))
            {
                self.err(
                    &join(path, &key.name),
                    value.pos,
                    "header values must not contain line breaks",
                );
            }
        }
        headers
    }
}

/// Defaults from the environment: (lifecycle, default retries, default retry delay).
struct Globals(Lifecycle, u32, Duration);

fn lifecycle(cx: &mut Cx<'_>) -> Globals {
    fn var<T: std::str::FromStr + PartialOrd + std::fmt::Display>(
        cx: &mut Cx<'_>,
        name: &str,
        default: T,
        lo: T,
        hi: T,
    ) -> T {
        let Some(raw) = (cx.env)(name) else {
            return default;
        };
        match raw.trim().parse::<T>() {
            Ok(v) if v >= lo && v <= hi => v,
            _ => {
                cx.problems.push(Problem {
                    path: format!("${name}"),
                    pos: None,
                    message: format!("must be a number between {lo} and {hi}, found \"{raw}\""),
                });
                default
            }
        }
    }
    let concurrency = var(cx, "ARGUS_STARTUP_CONCURRENCY", 4usize, 1, 64);
    let backoff = var(cx, "ARGUS_BACKEND_RETRY_BACKOFF", 1.5f64, 1.0, 10.0);
    let retries = var(cx, "ARGUS_BACKEND_RETRIES", 3u32, 0, 10);
    let delay = var(cx, "ARGUS_BACKEND_RETRY_DELAY", 5.0f64, 0.0, 120.0);
    Globals(
        Lifecycle {
            startup_concurrency: concurrency,
            retry_backoff: backoff,
        },
        retries,
        Duration::from_secs_f64(delay),
    )
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Backends in config order, each with the position of its name.
fn backends(
    cx: &mut Cx<'_>,
    top: &mut Fields<'_>,
    globals: &Globals,
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
        if let Some(backend) = backend(cx, &key.name, value, &path, globals, tls) {
            out.push((backend, key.pos));
        }
    }
    out
}

fn backend(
    cx: &mut Cx<'_>,
    name: &str,
    node: &Node,
    path: &str,
    globals: &Globals,
    global_tls: &tls::Global,
) -> Option<Backend> {
    let mut f = cx.fields(node, path)?;
    let kind_name = match f.get("type") {
        None => {
            cx.err(
                path,
                node.pos,
                "missing required field \"type\" (one of stdio, sse, streamable-http)",
            );
            None
        }
        Some(n) => {
            let p = f.child("type");
            let t = cx.string(n, &p)?;
            match t.trim() {
                "stdio" | "sse" | "streamable-http" => Some(t.trim().to_owned()),
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
                    None
                }
            }
        }
    };
    let group = match f.get("group") {
        Some(n) => {
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
        None => "default".to_owned(),
    };
    let is_stdio = kind_name.as_deref() == Some("stdio");
    let timeouts = timeouts(cx, &mut f, is_stdio, globals);
    let filters = filters(cx, &mut f);
    let tool_overrides = tool_overrides(cx, &mut f);
    let kind = match kind_name.as_deref() {
        Some("stdio") => launch(cx, &mut f, true).map(BackendKind::Stdio),
        Some(kind) => {
            let (url, url_pos) = match f.get("url") {
                Some(n) => (cx.url(n, &f.child("url")), n.pos),
                None => {
                    cx.err(path, node.pos, "missing required field \"url\"");
                    (None, node.pos)
                }
            };
            let headers = headers(cx, &mut f);
            let auth = auth(cx, &mut f);
            let located = url.as_deref().map(|u| (u, url_pos, f.child("url")));
            let tls = tls::backend(cx, &mut f, global_tls, located);
            if kind == "sse" {
                let launch = launch(cx, &mut f, false);
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
        None => {
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

fn headers(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Vec<(String, Secret)> {
    f.get("headers")
        .map_or_else(Vec::new, |n| cx.headers(n, &f.child("headers")))
}

fn auth(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Option<Auth> {
    let node = f.get("auth")?;
    let path = f.child("auth");
    let mut a = cx.fields(node, &path)?;
    let type_node = a.get("type");
    let type_pos = type_node.map_or(node.pos, |n| n.pos);
    let kind = match type_node {
        Some(n) => cx.string(n, &a.child("type")),
        None => {
            cx.err(
                &path,
                node.pos,
                "missing required field \"type\" (static or oauth2)",
            );
            None
        }
    };
    let result = match kind.as_deref().map(str::trim) {
        Some("static") => match a.get("headers") {
            Some(n) => {
                let headers = cx.headers(n, &a.child("headers"));
                if headers.is_empty() && matches!(n.value, YamlValue::Map(_)) {
                    cx.err(&a.child("headers"), n.pos, "needs at least one header");
                }
                Some(Auth::Static(headers))
            }
            None => {
                cx.err(
                    &path,
                    node.pos,
                    "static auth needs \"headers\" with at least one header",
                );
                None
            }
        },
        Some("oauth2") => oauth2(cx, &mut a, node),
        Some("pkce") => {
            cx.err(
                &a.child("type"),
                type_pos,
                "auth type \"pkce\" is not supported by argus-mcp (interactive browser login); \
                 use oauth2 client credentials or static headers",
            );
            a.used.iter_mut().for_each(|u| *u = true);
            None
        }
        Some(other) => {
            cx.err(
                &a.child("type"),
                type_pos,
                format!("unknown auth type \"{other}\" (expected static or oauth2)"),
            );
            a.used.iter_mut().for_each(|u| *u = true);
            None
        }
        None => {
            a.used.iter_mut().for_each(|u| *u = true);
            None
        }
    };
    a.finish(cx, &[]);
    result
}

fn oauth2(cx: &mut Cx<'_>, a: &mut Fields<'_>, node: &Node) -> Option<Auth> {
    let mut required = |cx: &mut Cx<'_>, key: &'static str| match a.get(key) {
        Some(n) => cx.nonempty(n, &a.child(key)),
        None => {
            cx.err(&a.path, node.pos, format!("oauth2 auth needs \"{key}\""));
            None
        }
    };
    let token_url = required(cx, "token_url");
    let client_id = required(cx, "client_id");
    let client_secret = required(cx, "client_secret");
    if let (Some(url), Some(n)) = (
        &token_url,
        a.entries.iter().find(|(k, _)| k.name == "token_url"),
    ) && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        cx.err(
            &a.child("token_url"),
            n.1.pos,
            format!("URL \"{url}\" must start with http:// or https://"),
        );
    }
    let scopes = a
        .get("scopes")
        .map_or_else(Vec::new, |n| cx.string_list(n, &a.child("scopes")));
    let expiry_buffer = a
        .get("token_expiry_buffer_seconds")
        .map_or(Some(Duration::from_secs(300)), |n| {
            cx.seconds(n, &a.child("token_expiry_buffer_seconds"), 0.0, 86_400.0)
        });
    let retry_on_401 = a
        .get("auth_retry_on_401")
        .map_or(Some(true), |n| cx.boolean(n, &a.child("auth_retry_on_401")));
    Some(Auth::OAuth2(OAuth2 {
        token_url: token_url?,
        client_id: client_id?,
        client_secret: Secret(client_secret?),
        scopes,
        expiry_buffer: expiry_buffer?,
        retry_on_401: retry_on_401?,
    }))
}

fn timeouts(
    cx: &mut Cx<'_>,
    f: &mut Fields<'_>,
    stdio: bool,
    globals: &Globals,
) -> Option<Timeouts> {
    let mut t = Timeouts {
        init: Duration::from_secs(if stdio { 60 } else { 15 }),
        cap_fetch: Duration::from_secs(10),
        sse_startup: Duration::from_secs(5),
        startup: (!stdio).then_some(Duration::from_secs(90)),
        call: Duration::from_secs(300),
        retries: globals.1,
        retry_delay: globals.2,
    };
    let Some(node) = f.get("timeouts") else {
        return Some(t);
    };
    let path = f.child("timeouts");
    let mut m = cx.fields(node, &path)?;
    let before = cx.problems.len();
    let mut secs = |cx: &mut Cx<'_>, key: &'static str, hi: f64| {
        m.get(key)
            .and_then(|n| cx.seconds(n, &m.child(key), 0.0, hi))
    };
    let day = 86_400.0;
    if let Some(v) = secs(cx, "init", day) {
        t.init = v;
    }
    if let Some(v) = secs(cx, "cap_fetch", day) {
        t.cap_fetch = v;
    }
    if let Some(v) = secs(cx, "sse_startup", day) {
        t.sse_startup = v;
    }
    if let Some(v) = secs(cx, "startup", day) {
        t.startup = Some(v);
    }
    if let Some(v) = secs(cx, "call", day) {
        t.call = v;
    }
    if let Some(v) = secs(cx, "retry_delay", 120.0) {
        t.retry_delay = v;
    }
    if let Some(n) = m.get("retries")
        && let Some(v) = cx.int(n, &m.child("retries"), 0, 10)
    {
        t.retries = v as u32;
    }
    m.finish(cx, &[]);
    (cx.problems.len() == before).then_some(t)
}

fn filters(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Filters {
    let mut filters = Filters::default();
    let Some(node) = f.get("filters") else {
        return filters;
    };
    let Some(mut m) = cx.fields(node, &f.child("filters")) else {
        return filters;
    };
    for (key, slot) in [
        ("tools", &mut filters.tools),
        ("resources", &mut filters.resources),
        ("prompts", &mut filters.prompts),
    ] {
        let Some(n) = m.get(key) else { continue };
        let Some(mut lists) = cx.fields(n, &m.child(key)) else {
            continue;
        };
        *slot = Filter {
            allow: globs(cx, &mut lists, "allow"),
            deny: globs(cx, &mut lists, "deny"),
        };
        lists.finish(cx, &[]);
    }
    m.finish(cx, &[]);
    filters
}

fn globs(cx: &mut Cx<'_>, lists: &mut Fields<'_>, key: &'static str) -> Vec<Glob> {
    let Some(n) = lists.get(key) else {
        return Vec::new();
    };
    let path = lists.child(key);
    let YamlValue::Seq(items) = &n.value else {
        cx.wrong_type(n, &path, "a list of glob patterns");
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let p = format!("{path}[{i}]");
            let pattern = cx.string(item, &p)?;
            match Glob::new(&pattern) {
                Ok(g) => Some(g),
                Err(e) => {
                    cx.err(&p, item.pos, format!("bad glob \"{pattern}\": {e}"));
                    None
                }
            }
        })
        .collect()
}

fn tool_overrides(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Vec<(String, ToolOverride)> {
    let Some(node) = f.get("tool_overrides") else {
        return Vec::new();
    };
    let path = f.child("tool_overrides");
    let YamlValue::Map(entries) = &node.value else {
        cx.wrong_type(node, &path, "a mapping of tool name to {name, description}");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in entries {
        let p = join(&path, &key.name);
        let Some(mut o) = cx.fields(value, &p) else {
            continue;
        };
        let name = o.get("name").and_then(|n| cx.nonempty(n, &o.child("name")));
        let description = o
            .get("description")
            .and_then(|n| cx.string(n, &o.child("description")));
        o.finish(cx, &[]);
        out.push((key.name.clone(), ToolOverride { name, description }));
    }
    out
}

fn conflict(cx: &mut Cx<'_>, top: &mut Fields<'_>, backends: &[(Backend, Pos)]) -> Conflict {
    let mut c = Conflict {
        strategy: Strategy::FirstWins,
        separator: "_".into(),
        order: Vec::new(),
    };
    let Some(node) = top.get("conflict_resolution") else {
        return c;
    };
    let Some(mut f) = cx.fields(node, "conflict_resolution") else {
        return c;
    };
    let mut strategy_pos = node.pos;
    if let Some(n) = f.get("strategy") {
        strategy_pos = n.pos;
        let p = f.child("strategy");
        if let Some(s) = cx.string(n, &p) {
            c.strategy = match s.trim() {
                "first-wins" => Strategy::FirstWins,
                "prefix" => Strategy::Prefix,
                "priority" => Strategy::Priority,
                "error" => Strategy::Error,
                other => {
                    cx.err(
                        &p,
                        n.pos,
                        format!(
                            "unknown strategy \"{other}\" (expected first-wins, prefix, priority or error)"
                        ),
                    );
                    Strategy::FirstWins
                }
            };
        }
    }
    if let Some(n) = f.get("separator")
        && let Some(s) = cx.string(n, &f.child("separator"))
    {
        c.separator = s;
    }
    if let Some(n) = f.get("order") {
        let p = f.child("order");
        c.order = cx.string_list(n, &p);
        if let YamlValue::Seq(items) = &n.value {
            for (name, item) in c.order.iter().zip(items) {
                if !backends.iter().any(|(b, _)| &b.name == name) {
                    cx.err(
                        &p,
                        item.pos,
                        format!("\"{name}\" is not a configured backend"),
                    );
                }
            }
        }
    }
    if c.strategy == Strategy::Priority && c.order.is_empty() {
        cx.err(
            &f.child("strategy"),
            strategy_pos,
            "strategy \"priority\" needs a non-empty \"order\" list of backend names",
        );
    }
    f.finish(cx, &[]);
    c
}

fn incoming_auth(cx: &mut Cx<'_>, top: &mut Fields<'_>) -> IncomingAuth {
    let Some(node) = top.get("incoming_auth") else {
        return IncomingAuth::Anonymous;
    };
    let Some(mut f) = cx.fields(node, "incoming_auth") else {
        return IncomingAuth::Anonymous;
    };
    let kind = f
        .get("type")
        .and_then(|n| cx.string(n, "incoming_auth.type").map(|s| (s, n.pos)));
    let tokens = f
        .get("tokens")
        .map(|n| (cx.string_list(n, "incoming_auth.tokens"), n.pos));
    let token = f
        .get("token")
        .and_then(|n| cx.nonempty(n, "incoming_auth.token"));
    let result = match kind.as_ref().map(|(s, pos)| (s.trim(), *pos)) {
        None | Some(("anonymous", _)) => IncomingAuth::Anonymous,
        Some(("bearer" | "local", pos)) => {
            let mut all: Vec<Secret> = tokens
                .map(|(list, _)| list)
                .unwrap_or_default()
                .into_iter()
                .map(|t| Secret(t.trim().to_owned()))
                .collect();
            all.extend(token.map(Secret));
            if all.iter().any(|t| t.0.is_empty()) {
                cx.err("incoming_auth.tokens", pos, "tokens must not be empty");
            }
            if all.is_empty() {
                cx.err(
                    "incoming_auth",
                    pos,
                    "bearer auth needs \"tokens\" (a list) or \"token\" with at least one token",
                );
            }
            IncomingAuth::Bearer(all)
        }
        Some((other @ ("jwt" | "oidc"), pos)) => {
            cx.err(
                "incoming_auth.type",
                pos,
                format!(
                    "incoming auth type \"{other}\" is not supported by argus-mcp (use bearer tokens)"
                ),
            );
            IncomingAuth::Anonymous
        }
        Some((other, pos)) => {
            cx.err(
                "incoming_auth.type",
                pos,
                format!("unknown incoming auth type \"{other}\" (expected anonymous or bearer)"),
            );
            IncomingAuth::Anonymous
        }
    };
    f.finish(cx, INCOMING_AUTH_EXTRAS);
    result
}

fn security(cx: &mut Cx<'_>, top: &mut Fields<'_>) -> Security {
    let mut s = Security {
        allowed_origins: Vec::new(),
        allowed_hosts: Vec::new(),
        max_body_bytes: limits::DEFAULT_MAX_BODY_BYTES,
    };
    let Some(mut f) = top.get("security").and_then(|n| cx.fields(n, "security")) else {
        return s;
    };
    if let Some(n) = f.get("allowed_origins") {
        s.allowed_origins = cx.string_list(n, "security.allowed_origins");
    }
    if let Some(n) = f.get("allowed_hosts") {
        s.allowed_hosts = cx.string_list(n, "security.allowed_hosts");
    }
    if let Some(n) = f.get("max_body_bytes")
        && let Some(v) = cx.int(n, "security.max_body_bytes", 1024, 104_857_600)
    {
        s.max_body_bytes = v as u64;
    }
    f.finish(cx, SECURITY_EXTRAS);
    s
}

fn sse_resilience(cx: &mut Cx<'_>, top: &mut Fields<'_>) -> SseResilience {
    let mut s = SseResilience {
        enabled: true,
        keepalive_interval: Some(Duration::from_secs(15)),
        send_timeout: Duration::from_secs(30),
        cleanup_deadline: Duration::from_secs(15),
    };
    let Some(mut f) = top
        .get("sse_resilience")
        .and_then(|n| cx.fields(n, "sse_resilience"))
    else {
        return s;
    };
    if let Some(n) = f.get("enabled")
        && let Some(v) = cx.boolean(n, "sse_resilience.enabled")
    {
        s.enabled = v;
    }
    if let Some(n) = f.get("keepalive_interval")
        && let Some(v) = cx.seconds(n, "sse_resilience.keepalive_interval", 0.0, 600.0)
    {
        s.keepalive_interval = (!v.is_zero()).then_some(v);
    }
    if let Some(n) = f.get("send_timeout")
        && let Some(v) = cx.seconds(n, "sse_resilience.send_timeout", 0.1, 300.0)
    {
        s.send_timeout = v;
    }
    if let Some(n) = f.get("cleanup_deadline")
        && let Some(v) = cx.seconds(n, "sse_resilience.cleanup_deadline", 0.1, 120.0)
    {
        s.cleanup_deadline = v;
    }
    f.finish(cx, SSE_EXTRAS);
    s
}

fn rate_limits(cx: &mut Cx<'_>, top: &mut Fields<'_>) -> RateLimits {
    let mut r = RateLimits {
        enabled: false,
        requests: 100,
        window: Duration::from_secs(60),
    };
    let Some(mut f) = top
        .get("rate_limits")
        .and_then(|n| cx.fields(n, "rate_limits"))
    else {
        return r;
    };
    if let Some(n) = f.get("enabled")
        && let Some(v) = cx.boolean(n, "rate_limits.enabled")
    {
        r.enabled = v;
    }
    if let Some(n) = f.get("requests")
        && let Some(v) = cx.int(n, "rate_limits.requests", 1, 100_000)
    {
        r.requests = v as u32;
    }
    if let Some(n) = f.get("window_seconds")
        && let Some(v) = cx.int(n, "rate_limits.window_seconds", 1, 86_400)
    {
        r.window = Duration::from_secs(v as u64);
    }
    f.finish(cx, RATE_LIMIT_EXTRAS);
    r
}

fn audit(cx: &mut Cx<'_>, top: &mut Fields<'_>) -> Audit {
    let mut a = Audit {
        enabled: false,
        file: PathBuf::from("argus-audit.jsonl"),
        required: false,
    };
    let Some(mut f) = top.get("audit").and_then(|n| cx.fields(n, "audit")) else {
        return a;
    };
    let enabled = f.get("enabled");
    if let Some(n) = enabled
        && let Some(v) = cx.boolean(n, "audit.enabled")
    {
        a.enabled = v;
    }
    let file = f.get("file");
    let mut file_ok = true;
    if let Some(n) = file {
        match cx.nonempty(n, "audit.file") {
            Some(v) => a.file = PathBuf::from(v),
            None => file_ok = false,
        }
    }
    if let Some(n) = f.get("required")
        && let Some(v) = cx.boolean(n, "audit.required")
    {
        a.required = v;
    }
    f.finish(cx, AUDIT_EXTRAS);
    // What the server would refuse at start, found without creating
    // anything: a folder on the way that is a file, a directory we may not
    // write to, an existing file that does not open for appending.
    if a.enabled
        && file_ok
        && let Some(pos) = file.or(enabled).map(|n| n.pos)
        && let Err(e) = crate::audit::can_open(&a.file)
    {
        cx.err(
            "audit.file",
            pos,
            format!("cannot open the audit log \"{}\": {e}", a.file.display()),
        );
    }
    a
}

fn catalog_names(cx: &mut Cx<'_>, top: &mut Fields<'_>) -> CatalogNames {
    let mut names = CatalogNames::default();
    let Some(mut f) = top.get("catalog").and_then(|n| cx.fields(n, "catalog")) else {
        return names;
    };
    if let Some(n) = f.get("max_name_length")
        && let Some(v) = cx.int(n, "catalog.max_name_length", 16, 1024)
    {
        names.max_length = Some(v as usize);
    }
    if let Some(n) = f.get("name_charset")
        && let Some(v) = cx.string(n, "catalog.name_charset")
    {
        match v.trim() {
            "strict" => names.charset = Some(NameCharset::Strict),
            "mcp" => names.charset = Some(NameCharset::Mcp),
            other => cx.err(
                "catalog.name_charset",
                n.pos,
                format!("unknown name_charset \"{other}\" (expected strict or mcp)"),
            ),
        }
    }
    f.finish(cx, &[]);
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Transport;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn empty_document_is_all_defaults() {
        let c = from_text("", &no_env).unwrap();
        assert_eq!(c.server.port, 9000);
        assert_eq!(c.server.host, "127.0.0.1");
        assert_eq!(c.server.transport, Transport::Sse);
        assert!(c.backends.is_empty());
        assert_eq!(c.sse.keepalive_interval, Some(Duration::from_secs(15)));
        assert_eq!(c.security.max_body_bytes, 4 * 1024 * 1024);
        assert_eq!(c.lifecycle.startup_concurrency, 4);
    }

    #[test]
    fn typo_hint() {
        let p = from_text("server:\n  prot: 1\n", &no_env).unwrap_err();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, "server.prot");
        assert!(
            p[0].message.contains("did you mean \"port\""),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn timeouts_defaults_depend_on_type() {
        let c = from_text(
            "backends:\n  a: {type: stdio, command: x}\n  b: {type: sse, url: 'http://h/sse'}\n",
            &no_env,
        )
        .unwrap();
        assert_eq!(c.backends[0].timeouts.init, Duration::from_secs(60));
        assert_eq!(c.backends[0].timeouts.startup, None);
        assert_eq!(c.backends[1].timeouts.init, Duration::from_secs(15));
        assert_eq!(
            c.backends[1].timeouts.startup,
            Some(Duration::from_secs(90))
        );
    }

    #[test]
    fn env_overrides_global_defaults_only() {
        let env = |n: &str| match n {
            "ARGUS_BACKEND_RETRIES" => Some("7".to_owned()),
            "ARGUS_STARTUP_CONCURRENCY" => Some("2".to_owned()),
            _ => None,
        };
        let c = from_text(
            "backends:\n  a: {type: stdio, command: x}\n  b: {type: stdio, command: x, timeouts: {retries: 1}}\n",
            &env,
        )
        .unwrap();
        assert_eq!(c.backends[0].timeouts.retries, 7);
        assert_eq!(c.backends[1].timeouts.retries, 1);
        assert_eq!(c.lifecycle.startup_concurrency, 2);
        let bad = |n: &str| (n == "ARGUS_BACKEND_RETRIES").then(|| "x".to_owned());
        let p = from_text("", &bad).unwrap_err();
        assert_eq!(p[0].path, "$ARGUS_BACKEND_RETRIES");
    }

    #[test]
    fn numeric_strings_after_expansion() {
        let env = |n: &str| (n == "PORT").then(|| "8123".to_owned());
        let c = from_text("server:\n  port: \"${PORT}\"\n", &env).unwrap();
        assert_eq!(c.server.port, 8123);
    }

    #[test]
    fn keepalive_zero_disables() {
        let c = from_text("sse_resilience: {keepalive_interval: 0}\n", &no_env).unwrap();
        assert_eq!(c.sse.keepalive_interval, None);
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let env = |n: &str| (n == "TOKEN").then(|| "hunter2".to_owned());
        let c = from_text(
            "backends:\n  a:\n    type: sse\n    url: http://h/sse\n    headers: {X-Key: '${TOKEN}'}\n",
            &env,
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn a_bad_top_level_tls_file_is_reported_once_however_many_backends_use_it() {
        let problems = from_text(
            "tls: {ca_file: /surely/missing/ca.pem}\nbackends:\n  a:\n    type: sse\n    url: https://a.example/sse\n  b:\n    type: streamable-http\n    url: https://b.example/mcp\n    tls: {bundled_roots: true}\n",
            &no_env,
        )
        .unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, "tls.ca_file");
        assert!(
            problems[0].message.starts_with("cannot read"),
            "{problems:?}"
        );
    }

    #[test]
    fn errors_never_echo_an_expanded_value() {
        let env = |n: &str| match n {
            "URL" => Some("ftp://user:s3cr3t@h/x".to_owned()),
            "MODE" => Some("s3cr3t-mode".to_owned()),
            "HDR" => Some("v\r\nInjected: 1".to_owned()),
            _ => None,
        };
        let problems = from_text(
            "server: {transport: '${MODE}'}\nbackends:\n  a:\n    type: sse\n    url: '${URL}'\n    headers: {X-Key: '${HDR}'}\n",
            &env,
        )
        .unwrap_err();
        let text: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect();
        let all = text.join("\n");
        assert!(!all.contains("s3cr3t"), "{all}");
        assert!(all.contains("${URL}") && all.contains("${MODE}"), "{all}");
        // The line-break check sees the expanded header value.
        assert!(
            text.iter()
                .any(|t| t.starts_with("backends.a.headers.X-Key") && t.contains("line breaks")),
            "{all}"
        );
    }
}
