//! A 2026-07-28 request's side of the router: its context, and the sink
//! its answer comes through. The POST that waits holds both; no session
//! is made. Items stay typed until the answer is shaped and written once.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::backend::{Connection, NotRelayed};
use crate::jsonrpc::{Message, RequestId};
use crate::limits::SESSION_OUTBOUND_QUEUE;
use crate::queue::{Receiver, Sender, bounded};
use crate::router::{CallContext, Hears, InputRequest, Reply, RequestContext, Router};
use crate::session::InFlight;
use crate::sync::lock;

/// What a stateless request's POST waits for.
#[derive(Debug)]
pub(super) enum Item {
    /// Something for the request before its answer (progress, a log).
    Related(Message),
    /// The answer: the last item.
    Answer(Message),
    /// A backend asks the client something while serving the request;
    /// the front turns it into an input-required result.
    Input(InputRequest),
}

/// The sink of one stateless request: a bounded channel its POST reads,
/// and the call that serves it, while one does.
pub(super) struct Waiter {
    tx: Sender<Item>,
    call: Mutex<Option<InFlight>>,
}

impl Waiter {
    /// Forgets the call serving the request and returns it (to cancel it,
    /// or because it now waits for a retry).
    pub(super) fn take_call(&self) -> Option<InFlight> {
        lock(&self.call).take()
    }
}

/// Every method runs on the thread that has the message (the POST's own,
/// a backend reader or timer, a backend's supervisor thread), under no
/// lock; none blocks.
impl Reply for Waiter {
    fn answer(&self, _: &RequestId, answer: Message) {
        let _ = self.tx.try_send(Item::Answer(answer));
    }

    fn related(&self, _: &RequestId, message: Message) -> bool {
        self.tx.try_send(Item::Related(message)).is_ok()
    }

    fn relay(&self, _: &RequestId, question: InputRequest) -> Result<(), NotRelayed> {
        self.tx
            .try_send(Item::Input(question))
            .map_err(|_| NotRelayed("the client's request is no longer waiting".into()))
    }

    fn ask(&self, _: &RequestId, _: &str, _: Option<Value>, _: Hears) -> bool {
        // The gateway asks only 2025-era clients itself; a 2026-07-28
        // client is asked through input-required results.
        false
    }

    fn track(&self, _: &RequestId, conn: &Arc<Connection>, backend_id: u64) -> bool {
        let mut call = lock(&self.call);
        if call.is_some() {
            return false;
        }
        *call = Some(InFlight {
            conn: Arc::downgrade(conn),
            backend_id,
        });
        true
    }

    fn untrack(&self, _: &RequestId) -> bool {
        self.take_call().is_some()
    }
}

/// One stateless request being served: its context, its sink, and the
/// channel its answer comes on. Dropping it ends the request: its context
/// is released, and a call still unanswered (the client left, or time ran
/// out) is cancelled at the backend.
pub(super) struct Stateless {
    pub(super) cx: RequestContext,
    pub(super) waiter: Arc<Waiter>,
    pub(super) rx: Receiver<Item>,
    router: Arc<Router>,
}

impl Stateless {
    /// Begins request `cx` of `router`.
    pub(super) fn new(router: Arc<Router>, cx: RequestContext) -> Stateless {
        let (tx, rx) = bounded(SESSION_OUTBOUND_QUEUE);
        let waiter = Arc::new(Waiter {
            tx,
            call: Mutex::new(None),
        });
        Stateless {
            cx,
            waiter,
            rx,
            router,
        }
    }

    /// The sink, as the router takes it.
    pub(super) fn reply(&self) -> Arc<dyn Reply> {
        self.waiter.clone()
    }

    /// Hands the request to the router.
    pub(super) fn dispatch(&self, message: Message) {
        let reply = self.reply();
        self.router
            .dispatch(CallContext::Request(&self.cx), message, &reply);
    }
}

impl Drop for Stateless {
    fn drop(&mut self) {
        let unanswered = self.waiter.take_call();
        self.router.end_request(&self.cx, unanswered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonrpc::code;

    fn waiter() -> (Waiter, Receiver<Item>) {
        let (tx, rx) = bounded(4);
        let waiter = Waiter {
            tx,
            call: Mutex::new(None),
        };
        (waiter, rx)
    }

    #[test]
    fn the_answer_and_what_comes_before_it_arrive_typed() {
        let (waiter, rx) = waiter();
        let id = RequestId::Number(7);
        let note = Message::notification("notifications/progress", None);
        assert!(waiter.related(&id, note));
        waiter.answer(
            &id,
            Message::error(Some(id.clone()), code::INTERNAL_ERROR, "x"),
        );
        assert!(matches!(rx.try_recv(), Ok(Item::Related(_))));
        assert!(matches!(
            rx.try_recv(),
            Ok(Item::Answer(Message::Error { .. }))
        ));
        // The gateway never asks a 2026-07-28 client itself.
        assert!(!waiter.ask(&id, "roots/list", None, Box::new(|_| {})));
        assert!(!waiter.untrack(&id), "nothing was tracked");
    }

    #[test]
    fn once_the_post_is_gone_nothing_is_queued() {
        let (waiter, rx) = waiter();
        drop(rx);
        let id = RequestId::Number(1);
        assert!(!waiter.related(&id, Message::notification("x", None)));
    }
}
