//! What the backend sends, sorted on the transport's reader thread: an
//! answer completes its pending request, progress goes to the request its
//! token names, a log message also to the requests in flight that listen,
//! a ping is answered here, and any other notification or request becomes
//! a [`BackendEvent`]; a backend request is traced to the client call it
//! serves (its origin). Completing and failing requests is `pending`'s.

use std::panic::{self, AssertUnwindSafe};

use log::{debug, error, warn};
use serde_json::{Value, json};

use super::pending::backend_id;
use super::{CallError, Connection};
use crate::backend::events::{BackendEvent, BackendRequest, Origin};
use crate::jsonrpc::{Message, RequestId};
use crate::mcp;

/// The `_meta` key by which a backend may name the request it serves.
pub const RELATED_REQUEST_META: &str = "io.modelcontextprotocol/related-request-id";

impl Connection {
    /// Handles one message read from the backend. Runs on the transport's
    /// reader thread; a panic in what it calls (a reply closure, say) is
    /// caught and logged, so one bad message never ends the reader.
    pub fn dispatch(&self, value: Value) {
        self.dispatch_related(value, None);
    }

    /// Like [`Connection::dispatch`], for a message that arrived in the
    /// answer stream of our request `related` (Streamable HTTP): a request
    /// among them is for whoever asked that one.
    pub fn dispatch_related(&self, value: Value, related: Option<u64>) {
        let caught = panic::catch_unwind(AssertUnwindSafe(|| self.dispatch_inner(value, related)));
        if caught.is_err() {
            error!(
                "[{}] handling a backend message panicked; message dropped",
                self.name
            );
        }
    }

    fn dispatch_inner(&self, value: Value, related: Option<u64>) {
        let message = match Message::parse(value) {
            Ok(m) => m,
            Err(invalid) => {
                warn!(
                    "[{}] invalid JSON-RPC message ignored: {}",
                    self.name, invalid.reason
                );
                return;
            }
        };
        match message {
            Message::Response { id, result } => self.complete(&id, Ok(result)),
            Message::Error {
                id: Some(id),
                error,
            } => self.complete(&id, Err(CallError::Rpc(error))),
            Message::Error { id: None, error } => warn!(
                "[{}] error without id: {} {}",
                self.name, error.code, error.message
            ),
            Message::Notification { method, params } => {
                if method == mcp::method::PROGRESS && self.progress(params.as_ref()) {
                    return;
                }
                if method == mcp::method::SUBSCRIPTIONS_ACKNOWLEDGED {
                    // Our own `subscriptions/listen` stream is open.
                    debug!(
                        "[{}] listening: {}",
                        self.name,
                        params
                            .as_ref()
                            .map_or(Value::Null, |p| p["notifications"].clone())
                    );
                    return;
                }
                if method == mcp::method::MESSAGE
                    && let Some(p) = &params
                {
                    for hook in self.lock().pending.values().filter_map(|p| p.log.as_ref()) {
                        hook(p);
                    }
                }
                self.event(BackendEvent::Notification { method, params });
            }
            Message::Request { id, method, .. } if method == mcp::method::PING => {
                // Liveness checks are ours to answer (MCP basic/utilities/ping).
                self.respond(&Message::response(id, json!({})));
            }
            Message::Request { id, method, params } => {
                debug!("[{}] <- request {id} {method} for a client", self.name);
                let origin = self.origin_of(params.as_ref(), related);
                self.event(BackendEvent::Request(BackendRequest {
                    id,
                    method,
                    params,
                    origin,
                }));
            }
        }
    }

    /// Whose request a backend's request serves (DESIGN.md "Routing
    /// backend requests"), first match wins:
    /// 1. the request its `_meta` names (our rewritten `progressToken`, or
    ///    `io.modelcontextprotocol/related-request-id`), if still in flight;
    /// 2. the request on whose answer stream it came (`related`), if in flight;
    /// 3. the most recent request in flight that has an origin;
    /// 4. the origin of the last request sent.
    fn origin_of(&self, params: Option<&Value>, related: Option<u64>) -> Option<Origin> {
        let meta = params.and_then(|p| p.get("_meta"));
        let named = ["progressToken", RELATED_REQUEST_META]
            .iter()
            .filter_map(|k| meta.and_then(|m| m.get(*k)))
            .filter_map(RequestId::from_value)
            .filter_map(|id| backend_id(&id));
        let state = self.lock();
        let in_flight = |id: u64| state.pending.get(&id).and_then(|p| p.origin.clone());
        named
            .chain(related)
            .find_map(in_flight)
            .or_else(|| {
                state
                    .pending
                    .iter()
                    .filter(|(_, p)| p.origin.is_some())
                    .max_by_key(|(id, _)| **id)
                    .and_then(|(_, p)| p.origin.clone())
            })
            .or_else(|| state.last_origin.clone())
    }

    /// Routes `notifications/progress` by token; `true` if it was ours.
    fn progress(&self, params: Option<&Value>) -> bool {
        let Some(token) = params
            .and_then(|p| p.get("progressToken"))
            .and_then(RequestId::from_value)
            .and_then(|t| backend_id(&t))
        else {
            return false;
        };
        let state = self.lock();
        match state.pending.get(&token).and_then(|p| p.progress.as_ref()) {
            Some(f) => {
                f(params.cloned().unwrap_or(Value::Null));
                true
            }
            // A token we no longer know: the request finished; drop it.
            None => true,
        }
    }

    pub(super) fn event(&self, event: BackendEvent) {
        // A full queue drops its oldest message: a request of the backend
        // among them still gets an answer.
        if let Some(BackendEvent::Request(BackendRequest { id, method, .. })) =
            self.events.send(event)
        {
            self.respond(&Message::error(
                Some(id),
                crate::jsonrpc::code::INTERNAL_ERROR,
                format!("{method} dropped: the gateway is overloaded by this backend's messages"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{conn, sent};
    use super::super::{Outgoing, ProgressFn};
    use super::*;
    use crate::jsonrpc::code;
    use std::sync::Arc;
    use std::sync::mpsc::channel;
    use std::time::Duration;

    #[test]
    fn progress_is_routed_by_rewritten_token() {
        let (c, rx, events) = conn();
        let (ptx, prx) = channel();
        let id = c
            .send_request(
                "tools/call",
                Some(json!({"name":"x","_meta":{"progressToken":"client-token"}})),
                Duration::from_secs(5),
                Box::new(|_| {}),
                Some(Box::new(move |p| ptx.send(p).unwrap())),
            )
            .unwrap();
        let req = sent(&rx);
        assert_eq!(req["params"]["_meta"]["progressToken"], json!(id));
        c.dispatch(json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":id,"progress":1}}));
        assert_eq!(prx.recv().unwrap()["progress"], 1);
        c.dispatch(json!({"jsonrpc":"2.0","method":"notifications/tools/list_changed"}));
        assert!(
            matches!(events.recv().unwrap(), BackendEvent::Notification { method, .. } if method == "notifications/tools/list_changed")
        );
    }

    /// A call that is only its name (which its `Debug` shows).
    struct Tag(&'static str);

    impl std::fmt::Debug for Tag {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl crate::backend::events::CallOrigin for Tag {
        fn relay(
            self: Arc<Self>,
            _: RequestId,
            _: &str,
            _: Option<Value>,
        ) -> Result<(), crate::backend::NotRelayed> {
            Err(crate::backend::NotRelayed("a tag asks nobody".into()))
        }
    }

    /// The origin a backend request is traced to, as the test tag.
    fn origin_tag(event: BackendEvent) -> Option<String> {
        match event {
            BackendEvent::Request(BackendRequest { origin, .. }) => {
                origin.map(|o| format!("{o:?}"))
            }
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn backend_requests_are_traced_to_the_call_they_serve() {
        let (c, _rx, events) = conn();
        let send = |tag: &'static str, token: bool| {
            let id = c.reserve_id();
            let params = token.then(|| json!({"_meta": {"progressToken": tag}}));
            c.send_request_as(
                id,
                Outgoing {
                    method: "tools/call".into(),
                    params,
                    timeout: Duration::from_secs(30),
                    reply: Box::new(|_| {}),
                    progress: token.then(|| Box::new(|_| {}) as ProgressFn),
                    log: None,
                    origin: Some(Arc::new(Tag(tag))),
                    stamp: Default::default(),
                },
            );
            id
        };
        let a = send("a", true);
        let b = send("b", false);
        let c_id = send("c", false);
        let ask = |meta: Value| json!({"jsonrpc":"2.0","id":"s","method":"roots/list","params":{"_meta": meta}});
        // Named by our rewritten progress token (or the related-request key).
        c.dispatch(ask(json!({"progressToken": a})));
        assert_eq!(origin_tag(events.recv().unwrap()).as_deref(), Some("a"));
        c.dispatch(ask(json!({RELATED_REQUEST_META: b})));
        assert_eq!(origin_tag(events.recv().unwrap()).as_deref(), Some("b"));
        // On the answer stream of b's POST.
        c.dispatch_related(ask(json!({})), Some(b));
        assert_eq!(origin_tag(events.recv().unwrap()).as_deref(), Some("b"));
        // Nothing names it: the most recent call in flight.
        c.dispatch(ask(json!({})));
        assert_eq!(origin_tag(events.recv().unwrap()).as_deref(), Some("c"));
        // c answered: b is now the most recent in flight.
        c.dispatch(json!({"jsonrpc":"2.0","id":c_id,"result":{}}));
        c.dispatch(ask(json!({"progressToken": c_id})));
        assert_eq!(origin_tag(events.recv().unwrap()).as_deref(), Some("b"));
        // None in flight: the last caller.
        c.dispatch(json!({"jsonrpc":"2.0","id":a,"result":{}}));
        c.dispatch(json!({"jsonrpc":"2.0","id":b,"result":{}}));
        c.dispatch(ask(json!({})));
        assert_eq!(origin_tag(events.recv().unwrap()).as_deref(), Some("c"));
    }

    #[test]
    fn backend_pings_are_answered_here() {
        let (c, rx, _events) = conn();
        c.dispatch(json!({"jsonrpc":"2.0","id":"p","method":"ping"}));
        assert_eq!(sent(&rx), json!({"jsonrpc":"2.0","id":"p","result":{}}));
    }

    #[test]
    fn backend_requests_become_events_and_answers_go_back() {
        let (c, rx, events) = conn();
        c.dispatch(
            json!({"jsonrpc":"2.0","id":0,"method":"sampling/createMessage","params":{"x":1}}),
        );
        let BackendEvent::Request(BackendRequest {
            id, method, params, ..
        }) = events.recv().unwrap()
        else {
            panic!("not a request event");
        };
        assert_eq!(
            (id, method.as_str(), params),
            (
                RequestId::Number(0),
                "sampling/createMessage",
                Some(json!({"x":1}))
            )
        );
        c.respond(&Message::error(
            Some(RequestId::Number(0)),
            code::METHOD_NOT_FOUND,
            "no",
        ));
        let answer = sent(&rx);
        assert_eq!(answer["id"], 0);
        assert_eq!(answer["error"]["code"], code::METHOD_NOT_FOUND);
    }
}
