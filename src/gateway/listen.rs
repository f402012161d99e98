//! `subscriptions/listen` (MCP 2026-07-28, Basic › Patterns › Subscriptions):
//! the stream that replaces the 2025 GET stream for list changes. The first
//! message is the acknowledgement with the accepted subset of what was asked;
//! then each `notifications/{tools,prompts,resources}/list_changed` of the view
//! (the whole gateway's or a group's) that was asked for, tagged with the
//! listen request's id as `subscriptionId`; `: ping` keepalives; the stream
//! ends when the client leaves or the gateway stops.
//!
//!
//! `resourceSubscriptions` are taken when some backend supports resource
//! subscriptions, for the resources of the stream's virtual server only:
//! each URI counts as one subscriber at the backend that serves it there
//! for as long as the stream lives (the backend hears the first subscribe
//! and the last unsubscribe of all sessions and streams), and that
//! backend's `notifications/resources/updated` come tagged the same way.
//! What is not taken is left out of the acknowledgement, so the client
//! knows.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::Gateway;
use super::list_changes::ListChanges;
use super::sse::{Keepalive, sse_headers, write_event};
use crate::http::Response;
use crate::identity::Identity;
use crate::jsonrpc::{Message, RequestId, code};
use crate::limits::MAX_SUBSCRIPTIONS_PER_SESSION;
use crate::mcp::method;
use crate::queue::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};
use crate::session::LIST_CHANGED;
use crate::sync;

/// Notifications a listen stream holds before it drops the slow client.
const LISTEN_QUEUE: usize = 256;

/// Open listen streams at most (each holds a connection).
pub(super) const MAX_LISTENS: usize = 1024;

/// Which list changes a listen stream wants.
#[derive(Debug, Clone, Copy, Default)]
struct Wants {
    tools: bool,
    prompts: bool,
    resources: bool,
}

#[derive(Debug)]
struct Listen {
    view: Option<String>,
    /// Who opened it: its lists are what its identity sees.
    identity: Option<Arc<Identity>>,
    wants: Wants,
    /// The resources whose updates it takes, each with the backend that
    /// serves it in the stream's virtual server.
    uris: Vec<(String, String)>,
    subscription: Value,
    tx: Sender<String>,
    /// Dies with the stream's writer.
    alive: std::sync::Weak<()>,
}

/// The open listen streams.
#[derive(Debug, Default)]
pub(super) struct Listens(Mutex<Vec<Listen>>);

impl Listens {
    fn lock(&self) -> MutexGuard<'_, Vec<Listen>> {
        // Pushes and retains only: a panic cannot tear the list.
        sync::lock(&self.0)
    }

    /// Tells each stream of the changes to its caller's lists (one of
    /// `session::LIST_CHANGED` each). Called with the sessions'
    /// `catalog_changed`, on the thread that rebuilt the catalog, under no
    /// lock.
    pub(super) fn catalog_changed(&self, changes: &mut ListChanges<'_>) {
        self.lock().retain(|l| {
            let methods = changes.for_caller(l.view.as_deref(), l.identity.as_deref());
            for &method in methods {
                let wanted = match LIST_CHANGED.iter().position(|m| *m == method) {
                    Some(0) => l.wants.tools,
                    Some(1) => l.wants.resources,
                    _ => l.wants.prompts,
                };
                if !wanted {
                    continue;
                }
                let params = json!({
                    "_meta": {"io.modelcontextprotocol/subscriptionId": l.subscription}});
                let note = Message::notification(method, Some(params));
                match l.tx.try_send(note.to_json_text()) {
                    Ok(()) => {}
                    // A client that stopped reading loses its stream.
                    Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => return false,
                }
            }
            true
        });
    }

    /// Tells the streams that take resource `uri` of `backend` of its
    /// update, if their virtual server still has it from that backend
    /// (`exposes`, asked with the stream's view and identity). Called on the backend's
    /// supervisor thread, under no lock.
    pub(super) fn resource_updated(
        &self,
        backend: &str,
        params: Option<&Value>,
        exposes: impl Fn(Option<&str>, Option<&Identity>, &str) -> bool,
    ) {
        let Some(uri) = params.and_then(|p| p.get("uri")).and_then(Value::as_str) else {
            return;
        };
        self.lock().retain(|l| {
            if !l.uris.iter().any(|(u, b)| u == uri && b == backend)
                || !exposes(l.view.as_deref(), l.identity.as_deref(), uri)
            {
                return true;
            }
            let params = json!({"uri": uri,
                "_meta": {"io.modelcontextprotocol/subscriptionId": l.subscription}});
            let note = Message::notification(method::RESOURCES_UPDATED, Some(params));
            // A client that stopped reading loses its stream.
            l.tx.try_send(note.to_json_text()).is_ok()
        });
    }

    /// Ends every stream (shutdown).
    pub(super) fn close(&self) {
        self.lock().clear();
    }

    fn add(&self, listen: Listen) -> bool {
        let mut all = self.lock();
        all.retain(|l| l.alive.strong_count() > 0);
        if all.len() >= MAX_LISTENS {
            return false;
        }
        all.push(listen);
        true
    }
}

/// Answers a `subscriptions/listen` with its stream; `can_subscribe`:
/// some backend of the view takes resource subscriptions.
pub(super) fn open(
    gateway: &Gateway,
    id: &RequestId,
    params: Option<&Value>,
    access: super::Access<'_>,
    can_subscribe: bool,
) -> Response {
    let asked = params
        .and_then(|p| p.get("notifications"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let flag = |k: &str| asked.get(k).and_then(Value::as_bool).unwrap_or(false);
    let wants = Wants {
        tools: flag("toolsListChanged"),
        prompts: flag("promptsListChanged"),
        resources: flag("resourcesListChanged"),
    };
    let mut accepted = Map::new();
    for (key, on) in [
        ("toolsListChanged", wants.tools),
        ("promptsListChanged", wants.prompts),
        ("resourcesListChanged", wants.resources),
    ] {
        if on {
            accepted.insert(key.into(), Value::Bool(true));
        }
    }
    // Only the resources of the stream's virtual server are accepted; the
    // acknowledgement leaves the rest out, so the client knows.
    let uris: Vec<(String, String)> = match asked.get("resourceSubscriptions") {
        Some(Value::Array(list)) if can_subscribe => {
            let mut uris: Vec<(String, String)> = Vec::with_capacity(list.len().min(64));
            for uri in list {
                let Some(uri) = uri.as_str() else {
                    return invalid(id, "resourceSubscriptions must be URIs");
                };
                if uris.iter().any(|(u, _)| u == uri) {
                    continue;
                }
                let caller = access.identity.map(Arc::as_ref);
                if let Some(backend) = gateway.router.resource_backend(access.group, caller, uri) {
                    uris.push((uri.to_owned(), backend));
                }
            }
            if uris.len() > MAX_SUBSCRIPTIONS_PER_SESSION {
                return invalid(
                    id,
                    &format!(
                        "too many resourceSubscriptions: a stream may take {MAX_SUBSCRIPTIONS_PER_SESSION}"
                    ),
                );
            }
            uris
        }
        _ => Vec::new(),
    };
    if !uris.is_empty() {
        let listed: Vec<&str> = uris.iter().map(|(u, _)| u.as_str()).collect();
        accepted.insert("resourceSubscriptions".into(), json!(listed));
    }
    let subscription = id.to_value();
    let params = json!({"_meta": {"io.modelcontextprotocol/subscriptionId": subscription},
        "notifications": accepted});
    let ack =
        Message::notification(method::SUBSCRIPTIONS_ACKNOWLEDGED, Some(params)).to_json_text();
    let (tx, rx) = bounded(LISTEN_QUEUE);
    let alive = Arc::new(());
    let added = gateway.listens.add(Listen {
        view: access.group.map(str::to_owned),
        identity: access.identity.cloned(),
        wants,
        uris: uris.clone(),
        subscription,
        tx,
        alive: Arc::downgrade(&alive),
    });
    if !added {
        let message = format!("too many listen streams (at most {MAX_LISTENS})");
        let answer = Message::error(Some(id.clone()), code::INTERNAL_ERROR, message);
        return Response::json_text(503, answer.to_json_text());
    }
    for (uri, backend) in &uris {
        gateway.router.listen_to(backend, uri);
    }
    let settings = gateway.config().sse.clone();
    let router = gateway.router.clone();
    sse_headers(Response::long_stream(
        200,
        Box::new(move |writer| {
            let _alive = alive;
            stream(writer, &ack, &rx, &settings);
            for (uri, backend) in &uris {
                router.stop_listening_to(backend, uri);
            }
        }),
    ))
}

/// A -32602 answer to a listen request.
fn invalid(id: &RequestId, message: &str) -> Response {
    let answer = Message::error(Some(id.clone()), code::INVALID_PARAMS, message);
    Response::json_text(400, answer.to_json_text())
}

fn stream(
    writer: &mut crate::http::StreamWriter<'_>,
    ack: &str,
    rx: &Receiver<String>,
    settings: &crate::config::SseResilience,
) {
    if writer
        .set_write_timeout(Some(settings.send_timeout))
        .is_err()
    {
        return;
    }
    // Keepalives every 15 s at least, so proxies keep the stream.
    let mut keepalive = Keepalive::at_least(settings, Duration::from_secs(15));
    let mut frame = Vec::new();
    if write_event(writer, None, ack).is_err() {
        return;
    }
    loop {
        frame.clear();
        let written = match rx.recv_timeout(keepalive.wait()) {
            Ok(note) => write_event(writer, None, &note),
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                if writer.peer_closed() {
                    return;
                }
                if !keepalive.ping_if_due(&mut frame) {
                    continue;
                }
                writer.write_frame(&frame)
            }
        };
        if written.is_err() {
            return;
        }
    }
}
