//! Where the router's messages for one caller go: a typed sink, so the
//! router never needs to know the front. A 2025-era session queues them
//! on its streams (implemented here); a 2026-07-28 request's POST waits on
//! a channel of its own (the gateway's). Messages stay typed until the
//! front writes them.

use std::sync::{Arc, Weak};

use serde_json::Value;

use crate::backend::{Connection, NotRelayed};
use crate::jsonrpc::{ErrorObject, Message, RequestId, code};
use crate::session::{Asker, Session};

/// Hears the client's answer to a question of the gateway's own, once.
/// Runs on the thread that read the client's answer (or ended the
/// session), under no lock of the session's.
pub type Hears = Box<dyn FnOnce(Result<Value, ErrorObject>) + Send>;

/// A caller's side of the router: every method is quick, takes no lock
/// of the router's, and never blocks (a full queue drops its client
/// instead). Each says which thread runs it; none is called under a lock.
pub trait Reply: Send + Sync {
    /// The answer to request `id` (a response or an error): its last
    /// message. A forwarded call untracks its request first. Runs on the
    /// thread that read the client's message (a connection's, or the
    /// stdio front's reader) when the router answers itself, else on the
    /// backend's reader thread (or its connection's timer, for a timeout).
    fn answer(&self, id: &RequestId, answer: Message);

    /// Something for request `id` before its answer (progress, a log
    /// message, a question for the client); `false` if it could not be
    /// queued. Runs on the backend's reader thread (or, for a question,
    /// its supervisor thread).
    fn related(&self, id: &RequestId, message: Message) -> bool;

    /// A backend's question (sampling, elicitation, roots), sent while it
    /// serves request `id`, for this client. `Err` says why it cannot be
    /// asked (the backend then gets an error). Runs on the backend's
    /// supervisor thread.
    fn relay(&self, id: &RequestId, question: InputRequest) -> Result<(), NotRelayed>;

    /// The gateway's own question for the client while it serves request
    /// `id`; `hears` gets the answer. `false` if it cannot be asked. Runs
    /// on the backend's reader thread (a 2026-07-28 backend's
    /// input-required result).
    fn ask(&self, id: &RequestId, method: &str, params: Option<Value>, hears: Hears) -> bool;

    /// Request `id` is being served by `conn` as `backend_id`; `false`
    /// (nothing recorded) if a request with that id is in flight already.
    /// Runs on the thread that read the client's message (a retry that
    /// takes a call over, too), or on the thread that retries a round.
    fn track(&self, id: &RequestId, conn: &Arc<Connection>, backend_id: u64) -> bool;

    /// Request `id` is no longer served (answered, or it waits for a
    /// retry); `false` if it was not tracked (the client cancelled it).
    /// Runs on the thread that retries a round, or the one that read the
    /// client's message.
    fn untrack(&self, id: &RequestId) -> bool;
}

/// A weak handle on a caller's sink: a call never keeps its caller alive.
pub type WeakReply = Weak<dyn Reply>;

/// The call a backend's question serves, as a sink may use it: a
/// 2026-07-28 client answers the question by retrying its request, and
/// the retry takes the call over.
pub trait Attach: Send + Sync + std::fmt::Debug {
    /// From now on the call's answer, progress and further questions go
    /// to request `id` of `reply`, which tracks it (so ending that request
    /// cancels it). `false` when the backend connection is gone. Runs on
    /// the retry's connection thread, under no lock.
    fn attach(&self, reply: &Arc<dyn Reply>, id: &RequestId) -> bool;
}

/// A backend's request for a client (sampling, elicitation, roots), sent
/// while it serves a call.
#[derive(Debug)]
pub struct InputRequest {
    /// Its key in a 2026-07-28 `inputRequests`: the backend's own request
    /// id as text.
    pub key: String,
    /// `sampling/createMessage`, `elicitation/create` or `roots/list`.
    pub method: String,
    /// Its params, as the backend sent them.
    pub params: Option<Value>,
    /// The client capability it needs.
    pub capability: &'static str,
    /// The backend that asks.
    pub conn: Weak<Connection>,
    /// The backend's id of this request.
    pub their_id: RequestId,
    /// The call it serves, which a 2026-07-28 retry takes over.
    pub call: Arc<dyn Attach>,
}

impl InputRequest {
    /// Answers the backend's question with the client's `answer`.
    pub fn answer(&self, answer: Value) {
        if let Some(conn) = self.conn.upgrade() {
            conn.respond(&Message::response(self.their_id.clone(), answer));
        }
    }

    /// Answers the backend's question with an error (-32601): nobody asks
    /// the client.
    pub fn refuse(&self, why: &str) {
        if let Some(conn) = self.conn.upgrade() {
            conn.respond(&Message::error(
                Some(self.their_id.clone()),
                code::METHOD_NOT_FOUND,
                why,
            ));
        }
    }
}

impl Reply for Session {
    fn answer(&self, id: &RequestId, answer: Message) {
        self.send_for(id, answer);
    }

    fn related(&self, id: &RequestId, message: Message) -> bool {
        self.send_for(id, message)
    }

    fn relay(&self, id: &RequestId, question: InputRequest) -> Result<(), NotRelayed> {
        if self.is_closed() {
            return Err(NotRelayed("no client session to ask".into()));
        }
        let declared = self
            .state()
            .client_capabilities
            .value()
            .get(question.capability)
            .is_some_and(|c| !c.is_null());
        if !declared {
            return Err(NotRelayed(format!(
                "the client did not declare the \"{}\" capability",
                question.capability
            )));
        }
        let asker = Asker::Backend(question.conn, question.their_id);
        put_question(self, id, (question.method, question.params), asker);
        Ok(())
    }

    fn ask(&self, id: &RequestId, method: &str, params: Option<Value>, hears: Hears) -> bool {
        put_question(self, id, (method.to_owned(), params), Asker::Gateway(hears))
    }

    fn track(&self, id: &RequestId, conn: &Arc<Connection>, backend_id: u64) -> bool {
        Session::track(self, id.clone(), conn, backend_id)
    }

    fn untrack(&self, id: &RequestId) -> bool {
        Session::untrack(self, id).is_some()
    }
}

/// Sends `session`'s client a request (`method`, `params`) on the stream
/// of its request `id`, under an id of the session's, and records that
/// `asker` waits for the answer; whether it was queued.
fn put_question(
    session: &Session,
    id: &RequestId,
    (method, params): (String, Option<Value>),
    asker: Asker,
) -> bool {
    let ours = session.next_server_request_id();
    session.track_server_request(ours.clone(), asker);
    let request = Message::Request {
        id: ours,
        method,
        params,
    };
    session.send_for(id, request)
}
