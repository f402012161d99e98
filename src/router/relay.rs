//! The other direction: a backend's request for a client (sampling,
//! elicitation, roots) goes to the call it serves (the backend connection
//! traces it, see `Connection::origin_of`), and through the call's sink to
//! its client ([`Reply::relay`]); the client's answer goes back to
//! whoever asked.

use super::*;

impl Router {
    /// Relays a backend's request (`sampling/createMessage`,
    /// `elicitation/create`, `roots/list`) to the client whose request it
    /// serves (`origin`, found by the connection's rule); when no client
    /// can be asked, answers the backend -32601 (method not found), so it
    /// can go on without the client.
    /// Runs on the backend's supervisor thread, under no lock.
    pub fn server_request(&self, backend: &str, conn: &Arc<Connection>, request: BackendRequest) {
        let BackendRequest {
            id,
            method,
            params,
            origin,
        } = request;
        let asked = match origin {
            Some(call) => call.relay(id.clone(), &method, params),
            None if mcp::capability_of(&method).is_none() => Err(NotRelayed(format!(
                "{method} is not relayed by the gateway"
            ))),
            None => Err(NotRelayed("no client session to ask".into())),
        };
        if let Err(why) = asked {
            debug!("[{backend}] {method} refused: {why}");
            conn.respond(&Message::error(Some(id), code::METHOD_NOT_FOUND, why.0));
        }
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
