//! The read-only management documents: `status`, `backends`, `groups`,
//! `capabilities`, `sessions`, `events` and `batch`, in the shapes the original
//! Argus serves, plus what ours knows more (both transports with the primary
//! first, pid, restarts, per-group URLs).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use serde_json::{Value, json};

use super::{Gateway, error, param};
use crate::audit::rfc3339_of;
use crate::catalog::{Catalog, Kind};
use crate::config::Transport;
use crate::http::Response;
use crate::mcp;
use crate::supervisor::BackendStatus;
use crate::sync;

/// Longest accepted query value.
const MAX_PARAM: usize = 255;

fn iso(t: SystemTime) -> String {
    rfc3339_of(t)
}

/// `http://<bound address>`.
fn base_url(gateway: &Gateway) -> String {
    format!("http://{}", gateway.local)
}

/// The service state: `starting` → `running` → `stopping`.
fn state(gateway: &Gateway) -> &'static str {
    if gateway.shutting_down.load(Ordering::SeqCst) {
        "stopping"
    } else if gateway.supervisor.first_pass_complete() {
        "running"
    } else {
        "starting"
    }
}

/// `GET status`.
pub(super) fn status(gateway: &Gateway) -> Value {
    let config = gateway.config();
    let base = base_url(gateway);
    let sse = format!("{base}/sse");
    let mcp_url = format!("{base}/mcp");
    let primary = config.server.transport;
    let urls = match primary {
        Transport::StreamableHttp => [mcp_url.clone(), sse.clone()],
        _ => [sse.clone(), mcp_url.clone()],
    };
    let file = config.source.as_ref().map(|p| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.clone())
            .display()
            .to_string()
    });
    let loaded_at = *sync::lock(&gateway.loaded_at);
    json!({
        "service": {
            "name": "argus-mcp",
            "version": mcp::VERSION,
            "state": state(gateway),
            "uptime_seconds": gateway.started.elapsed().as_secs_f64(),
            "started_at": iso(gateway.started_at),
        },
        "config": {
            "file_path": file,
            "loaded_at": iso(loaded_at),
            "backend_count": config.backends.len(),
        },
        "transport": {
            "sse_url": sse,
            "streamable_http_url": mcp_url,
            "host": gateway.local.ip().to_string(),
            "port": gateway.local.port(),
            "primary": primary.as_str(),
            "urls": urls,
        },
        "feature_flags": {
            "management_auth": config.server.management_token.is_some(),
            "incoming_auth": config.incoming_auth != crate::config::IncomingAuth::Anonymous,
            "audit": config.audit.enabled,
            "rate_limits": config.rate_limits.enabled,
            "groups": true,
            "reload": gateway.control.get().is_some_and(|c| c.loader.is_some()),
        },
    })
}

/// Exposed items per kind of backend `index` in `catalog`.
fn counts(catalog: &Catalog, index: usize) -> (usize, usize, usize) {
    let of = |kind: Kind| {
        catalog
            .entries
            .iter()
            .filter(|e| e.kind == kind && e.route.backend == index)
            .count()
    };
    (
        of(Kind::Tool),
        of(Kind::Resource) + of(Kind::Template),
        of(Kind::Prompt),
    )
}

/// `GET backends`: config order.
pub(super) fn backends(gateway: &Gateway) -> Value {
    let catalog = gateway.supervisor.catalog();
    let list: Vec<Value> = gateway
        .supervisor
        .states()
        .into_iter()
        .map(|(name, s)| {
            let (tools, resources, prompts) = counts(&catalog, s.index);
            let connected = s.status == BackendStatus::Connected;
            let health = match s.status {
                BackendStatus::Connected => "healthy",
                BackendStatus::Retrying | BackendStatus::Failed => "unhealthy",
                BackendStatus::Starting | BackendStatus::Stopped => "unknown",
            };
            let conditions: Vec<Value> = s
                .conditions
                .iter()
                .map(|c| {
                    let level = match c.status {
                        BackendStatus::Connected => "OK",
                        BackendStatus::Starting | BackendStatus::Stopped => "Warning",
                        BackendStatus::Retrying | BackendStatus::Failed => "Error",
                    };
                    json!({
                        "timestamp": iso(c.at),
                        "type": c.status.phase(),
                        "status": level,
                        "message": c.message.clone().unwrap_or_else(|| c.status.to_string()),
                    })
                })
                .collect();
            json!({
                "name": name,
                "type": s.config.kind.type_name(),
                "group": s.config.group,
                "phase": s.status.phase(),
                "state": if connected { "connected" } else { "disconnected" },
                "status": s.status.as_str(),
                "since_seconds": s.since.elapsed().as_secs_f64(),
                "connected_at": s.connected_at.map(iso),
                "error": s.last_error,
                "capabilities": {"tools": tools, "resources": resources, "prompts": prompts},
                "health": {"status": health, "last_check": null, "latency_ms": null},
                "conditions": conditions,
                "labels": {},
                "pid": s.pid,
                "restarts": s.restarts,
                "failed_attempts": s.attempts,
            })
        })
        .collect();
    json!({ "backends": list })
}

/// Whether `value` is made only of `A-Z a-z 0-9 _ - .` and, when
/// `loose`, also spaces, `/` and `*` (the original's group pattern).
fn plain(value: &str, loose: bool) -> bool {
    !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '-' | '.')
                || (loose && (c.is_whitespace() || c == '/' || c == '*'))
        })
}

/// A query parameter checked against the original's rules.
fn checked(
    req: &crate::http::Request,
    name: &str,
    ok: impl Fn(&str) -> bool,
) -> Result<Option<String>, Response> {
    let value = param(req, name)?;
    match value {
        Some(v) if v.len() > MAX_PARAM => Err(error(
            400,
            "bad_request",
            format!("'{name}' must be at most {MAX_PARAM} characters."),
        )),
        Some(v) if !ok(&v) => Err(error(
            400,
            "bad_request",
            format!("'{name}' contains invalid characters."),
        )),
        other => Ok(other),
    }
}

/// The groups document (all groups, or the one asked for).
fn groups_document(gateway: &Gateway, only: Option<&str>) -> Value {
    let config = gateway.config();
    let base = base_url(gateway);
    let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for b in &config.backends {
        groups.entry(&b.group).or_default().push(&b.name);
    }
    let mut out = serde_json::Map::new();
    let mut total_servers = 0;
    for (group, mut servers) in groups {
        if only.is_some_and(|o| o != group) {
            continue;
        }
        servers.sort_unstable();
        total_servers += servers.len();
        out.insert(
            group.to_owned(),
            json!({
                "servers": servers,
                "count": servers.len(),
                "urls": {
                    "sse": format!("{base}/g/{group}/sse"),
                    "messages": format!("{base}/g/{group}/messages/"),
                    "mcp": format!("{base}/g/{group}/mcp"),
                },
            }),
        );
    }
    let total_groups = out.len();
    if let Some(missing) = only.filter(|_| total_groups == 0) {
        out.insert(missing.to_owned(), json!({"servers": [], "count": 0}));
    }
    json!({"groups": out, "total_groups": total_groups, "total_servers": total_servers})
}

/// `GET groups[?group=<name>]`.
pub(super) fn groups(gateway: &Gateway, req: &crate::http::Request) -> Response {
    match checked(req, "group", |g| plain(g, true)) {
        Ok(only) => Response::json(200, &groups_document(gateway, only.as_deref())),
        Err(refusal) => refusal,
    }
}

/// The capabilities document of the whole catalog, filtered.
fn capabilities_document(
    gateway: &Gateway,
    kind: Option<&str>,
    backend: Option<&str>,
    search: Option<&str>,
) -> Value {
    let catalog = gateway.supervisor.catalog();
    let mut listing = Listing {
        catalog: &catalog,
        filter: CapabilityFilter {
            kind,
            backend,
            search: search.map(str::to_lowercase),
        },
        route_map: serde_json::Map::new(),
    };
    let tools = tool_rows(&mut listing);
    // Resources by URI, templates by URI template: the same fields else.
    let resources = located_rows(&mut listing, Kind::Resource, "resources", "uri", "uri");
    let templates = located_rows(
        &mut listing,
        Kind::Template,
        "resource_templates",
        "uriTemplate",
        "uri_template",
    );
    let prompts = prompt_rows(&mut listing);
    json!({
        "mcp_visible_tool_count": tools.len(),
        "tools": tools,
        "resources": resources,
        "resource_templates": templates,
        "prompts": prompts,
        "route_map": listing.route_map,
        "optimizer_active": false,
    })
}

/// What `GET capabilities` asks for: a type, a backend, a search text
/// (lower-cased); `None` allows all.
struct CapabilityFilter<'a> {
    /// `type`: `tools`, `resources`, `resource_templates` or `prompts`.
    kind: Option<&'a str>,
    /// `backend`: the backend's name.
    backend: Option<&'a str>,
    /// `search`: a part of the exposed name or URI, any case.
    search: Option<String>,
}

impl CapabilityFilter<'_> {
    /// Whether an item of type `word`, exposed as `exposed` by backend
    /// `at`, is wanted.
    fn wants(&self, word: &str, exposed: &str, at: &str) -> bool {
        self.kind.is_none_or(|want| want == word)
            && self.backend.is_none_or(|b| b == at)
            && self
                .search
                .as_deref()
                .is_none_or(|s| exposed.to_lowercase().contains(s))
    }
}

/// The catalog being listed, the filter, and the route map the listing
/// fills (exposed name → backend and original name).
struct Listing<'a> {
    /// The whole catalog.
    catalog: &'a Catalog,
    /// What is wanted.
    filter: CapabilityFilter<'a>,
    /// Every listed item but templates, by exposed name.
    route_map: serde_json::Map<String, Value>,
}

impl Listing<'_> {
    /// The wanted items of kind `k` (type `word`, keyed by field `key`),
    /// each with its backend and original name; all but templates go into
    /// the route map.
    fn items(&mut self, k: Kind, word: &str, key: &str) -> Vec<(Value, String, String)> {
        let catalog = self.catalog;
        catalog
            .list(k)
            .iter()
            .filter_map(|item| {
                let exposed = text(item, key);
                let route = catalog.route(k, &exposed)?;
                if !self.filter.wants(word, &exposed, &route.backend_name) {
                    return None;
                }
                if k != Kind::Template {
                    self.route_map
                        .insert(exposed.clone(), json!([route.backend_name, route.original]));
                }
                Some((
                    item.clone(),
                    route.backend_name.clone(),
                    route.original.clone(),
                ))
            })
            .collect()
    }
}

/// A string field of an item, empty if it has none.
fn text(item: &Value, field: &str) -> String {
    item.get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The wanted tools, with their original names and input schemas.
fn tool_rows(listing: &mut Listing<'_>) -> Vec<Value> {
    listing
        .items(Kind::Tool, "tools", "name")
        .into_iter()
        .map(|(t, backend, original)| {
            let name = text(&t, "name");
            json!({
                "name": name,
                "original_name": original,
                "description": text(&t, "description"),
                "backend": backend,
                "input_schema": t.get("inputSchema").cloned().unwrap_or_else(|| json!({})),
                "filtered": false,
                "renamed": name != original,
            })
        })
        .collect()
}

/// The wanted resources or templates (`kind`, type `word`), their `key`
/// shown as `field`.
fn located_rows(
    listing: &mut Listing<'_>,
    kind: Kind,
    word: &str,
    key: &str,
    field: &str,
) -> Vec<Value> {
    listing
        .items(kind, word, key)
        .into_iter()
        .map(|(r, backend, _)| {
            json!({
                field: text(&r, key),
                "name": text(&r, "name"),
                "backend": backend,
                "mime_type": r.get("mimeType").and_then(Value::as_str),
            })
        })
        .collect()
}

/// The wanted prompts, with their original names and arguments.
fn prompt_rows(listing: &mut Listing<'_>) -> Vec<Value> {
    listing
        .items(Kind::Prompt, "prompts", "name")
        .into_iter()
        .map(|(p, backend, original)| {
            json!({
                "name": text(&p, "name"),
                "original_name": original,
                "description": text(&p, "description"),
                "backend": backend,
                "arguments": p.get("arguments").cloned().unwrap_or_else(|| json!([])),
            })
        })
        .collect()
}

/// `GET capabilities[?type=&backend=&search=]`.
pub(super) fn capabilities(gateway: &Gateway, req: &crate::http::Request) -> Response {
    let kinds = ["tools", "resources", "resource_templates", "prompts"];
    let query = (|| {
        let kind = checked(req, "type", |t| kinds.contains(&t))?;
        let backend = checked(req, "backend", |b| plain(b, false))?;
        let search = checked(req, "search", |_| true)?;
        Ok::<_, Response>((kind, backend, search))
    })();
    match query {
        Ok((kind, backend, search)) => Response::json(
            200,
            &capabilities_document(
                gateway,
                kind.as_deref(),
                backend.as_deref(),
                search.as_deref(),
            ),
        ),
        Err(refusal) => refusal,
    }
}

/// `GET sessions`: every open client session, both transports.
pub(super) fn sessions(gateway: &Gateway) -> Value {
    let views = gateway.supervisor.views();
    let ttl = gateway.config().server.session_idle_timeout.as_secs_f64();
    let mut list = gateway.sessions.all();
    list.sort_by_key(|s| s.created);
    let sessions: Vec<Value> = list
        .iter()
        .map(|s| {
            let catalog = views.get(s.group.as_deref()).cloned().unwrap_or_default();
            let tools = catalog.list(Kind::Tool).len();
            json!({
                "id": s.label(),
                "transport_type": s.transport.as_str(),
                "group": s.group,
                "identity": s.identity.as_ref().map(|i| i.name.as_str()),
                "peer": s.peer.to_string(),
                "tool_count": tools,
                "capability_snapshot": {
                    "tools": tools,
                    "resources": catalog.list(Kind::Resource).len(),
                    "prompts": catalog.list(Kind::Prompt).len(),
                },
                "age_seconds": s.created.elapsed().as_secs_f64(),
                "idle_seconds": s.idle().as_secs_f64(),
                "ttl": ttl,
                "expired": false,
                "in_flight": s.in_flight_count(),
            })
        })
        .collect();
    json!({"active_sessions": sessions.len(), "sessions": sessions})
}

/// `limit` of `GET events`: 1–10000, default 100.
fn limit(req: &crate::http::Request) -> Result<usize, Response> {
    match param(req, "limit")? {
        None => Ok(100),
        Some(raw) => match raw.trim().parse::<i64>() {
            Err(_) => Err(error(400, "bad_request", "'limit' must be an integer.")),
            Ok(n) if (1..=10_000).contains(&n) => Ok(n as usize),
            Ok(_) => Err(error(
                400,
                "bad_request",
                "'limit' must be between 1 and 10000.",
            )),
        },
    }
}

/// `GET events[?limit=&since=&severity=]`: oldest first.
pub(super) fn events(gateway: &Gateway, req: &crate::http::Request) -> Response {
    let query =
        (|| Ok::<_, Response>((limit(req)?, param(req, "since")?, param(req, "severity")?)))();
    match query {
        Ok((limit, since, severity)) => {
            let events =
                gateway
                    .runtime
                    .events()
                    .list(limit, since.as_deref(), severity.as_deref());
            Response::json(200, &json!({ "events": events }))
        }
        Err(refusal) => refusal,
    }
}

/// `GET batch[?events_limit=]`: status, backends, capabilities and events at once.
pub(super) fn batch(gateway: &Gateway, req: &crate::http::Request) -> Response {
    let events_limit = req
        .query_param("events_limit")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map_or(20, |n| n.clamp(1, 10_000) as usize);
    let events = gateway.runtime.events().list(events_limit, None, None);
    Response::json(
        200,
        &json!({
            "status": status(gateway),
            "backends": backends(gateway),
            "capabilities": capabilities_document(gateway, None, None, None),
            "events": {"events": events},
        }),
    )
}
