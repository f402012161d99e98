//! The other direction: a backend's request for a client (sampling,
//! elicitation, roots) goes to the session whose call it serves (the
//! backend connection traces it, see `Connection::origin_of`), under an id
//! of ours; the client's answer goes back to whoever asked. A 2026-07-28
//! client's retry takes its parked call over ([`Router::attach`]).

use super::forward::{Caller, Target};
use super::*;

impl Router {
    /// Relays a backend's request (`sampling/createMessage`,
    /// `elicitation/create`, `roots/list`) to the client whose request it
    /// serves (`origin`, found by the connection's rule), under an id of
    /// ours, on the stream of that request, if the client declared the
    /// capability; otherwise answers the backend -32601 (method not found),
    /// so it can go on without the client.
    /// Runs on the backend's supervisor thread, under no lock.
    pub fn server_request(&self, backend: &str, conn: &Arc<Connection>, request: BackendRequest) {
        let BackendRequest {
            id,
            method,
            params,
            origin,
        } = request;
        let method = method.as_str();
        let refuse = |why: String| {
            debug!("[{backend}] {method} refused: {why}");
            conn.respond(&Message::error(
                Some(id.clone()),
                code::METHOD_NOT_FOUND,
                why,
            ));
        };
        let capability = match method {
            method::SAMPLING_CREATE_MESSAGE => "sampling",
            method::ELICITATION_CREATE => "elicitation",
            method::ROOTS_LIST => "roots",
            other => return refuse(format!("{other} is not relayed by the gateway")),
        };
        let call = origin.and_then(|o| o.downcast::<Caller>().ok());
        let caller = call.as_ref().and_then(|c| {
            let t = c.target();
            t.session.upgrade().map(|s| (s, t.id))
        });
        let Some((session, related)) = caller.filter(|(s, _)| !s.is_closed()) else {
            return refuse("no client session to ask".into());
        };
        if session.state().protocol_version == Some(mcp::MODERN_VERSION) {
            // 2026-07-28 has no server→client requests on a stream: the
            // front turns this into an input-required result (the bridge).
            let key = match &id {
                RequestId::String(s) => s.clone(),
                RequestId::Number(n) => n.to_string(),
            };
            let input = InputRequest {
                key,
                method: method.to_owned(),
                params,
                capability,
                conn: Arc::downgrade(conn),
                their_id: id.clone(),
                call: call.map(|c| c as Origin).expect("a caller was found"),
            };
            if !session.send_input(&related, input) {
                refuse("the client's request is no longer waiting".into());
            }
            return;
        }
        if session
            .state()
            .client_capabilities
            .value()
            .get(capability)
            .is_none_or(Value::is_null)
        {
            return refuse(format!(
                "the client did not declare the \"{capability}\" capability"
            ));
        }
        let ours = RequestId::String(format!(
            "argus-{}",
            self.next_relay.fetch_add(1, Ordering::Relaxed)
        ));
        session.track_server_request(ours.clone(), Asker::Backend(Arc::downgrade(conn), id));
        session.send_for(
            &related,
            &Message::Request {
                id: ours,
                method: method.to_owned(),
                params,
            },
        );
    }

    /// A 2026-07-28 retry takes over the call that `call` (an
    /// [`InputRequest::call`]) names: its answer, progress and further
    /// backend questions go to request `id` of `session`, and closing that
    /// session cancels it. `false` when the backend connection is gone.
    pub fn attach(&self, call: &Origin, session: &Arc<Session>, id: &RequestId) -> bool {
        let Some(caller) = call.downcast_ref::<Caller>() else {
            return false;
        };
        let Some(conn) = caller.conn.upgrade() else {
            return false;
        };
        *caller.target.lock().unwrap_or_else(|e| e.into_inner()) = Target {
            session: Arc::downgrade(session),
            id: id.clone(),
        };
        session.track(id.clone(), &conn, caller.backend_id)
    }
}

/// The client's answer (`id`) to a request sent to it goes to whoever
/// asked: a backend (under its own id) or the gateway.
pub(super) fn answered(
    session: &Session,
    id: Option<&RequestId>,
    outcome: Result<Value, ErrorObject>,
) {
    match id.and_then(|id| session.take_server_request(id)) {
        Some(Asker::Backend(conn, theirs)) => {
            if let Some(conn) = conn.upgrade() {
                conn.respond(&match outcome {
                    Ok(result) => Message::response(theirs, result),
                    Err(error) => Message::Error {
                        id: Some(theirs),
                        error,
                    },
                });
            }
        }
        Some(Asker::Gateway(hears)) => hears(outcome),
        None => debug!(
            "session {}: answer to unknown request {:?} dropped",
            session.short_id(),
            id.map(RequestId::to_string)
        ),
    }
}
