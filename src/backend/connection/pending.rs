//! How a request in flight ends, other than at its deadline (`timer`): its
//! answer or JSON-RPC error from the backend, a failure the transport
//! reports, a cancellation by its caller, or an unreadable message that
//! answers it; and what the pending table says about a request. How a
//! request enters the table is [`Connection::send_request_as`]'s; which
//! message is an answer is `dispatch`'s.

use std::sync::atomic::Ordering;
use std::time::Duration;

use log::{debug, warn};
use serde_json::{Value, json};

use super::{CallError, Connection};
use crate::backend::salvage::Unreadable;
use crate::jsonrpc::RequestId;
use crate::mcp;

impl Connection {
    /// Cancels a pending request: no reply goes to its caller, and the
    /// backend gets `notifications/cancelled`.
    pub fn cancel(&self, id: u64, reason: &str) {
        let removed = self.lock().pending.remove(&id);
        if let Some(pending) = removed {
            debug!(
                "[{}] cancel request {id} {} ({reason})",
                self.name, pending.method
            );
            self.notify(
                mcp::method::CANCELLED,
                Some(json!({"requestId": id, "reason": reason})),
            );
        }
    }

    /// Fails a pending request the transport could not deliver.
    pub fn fail(&self, id: u64, error: CallError) {
        self.fail_pending(id, error);
    }

    /// Fails request `id` if it is pending; whether it was.
    fn fail_pending(&self, id: u64, error: CallError) -> bool {
        let pending = self.lock().pending.remove(&id);
        let Some(p) = pending else { return false };
        let why = error.to_string();
        warn!(
            "[{}] request {id} {} failed: {}",
            self.name,
            p.method,
            crate::redact::text(&why)
        );
        (p.reply)(Err(error));
        true
    }

    /// Handles a message the transport read but could not parse. Runs on
    /// the thread that read it (the transport's reader, or the worker of a
    /// Streamable HTTP POST), under no lock. It is counted (metric
    /// `argus_backend_unreadable_messages_total`); if it answers a pending
    /// request (its salvaged `id`; failing that, `related`: the request on
    /// whose answer stream or in whose POST response it came, unless it is
    /// a request itself) that request fails at once with an error naming
    /// this backend and the fault, instead of waiting for its timeout.
    /// Otherwise it is handed back for the transport to log in its own
    /// words, with the count of such messages so far: the first
    /// [`UNMATCHED_LOGGED`], then every thousandth (`None` in between).
    pub fn unreadable(&self, bad: Unreadable, related: Option<u64>) -> Option<(Unreadable, u64)> {
        crate::metrics::count_unreadable(&self.name, bad.fault.label());
        let target = match &bad.id {
            _ if bad.request => None,
            Some(id) => backend_id(id),
            None => related,
        };
        if let Some(id) = target
            && self.fail_pending(id, CallError::Rpc(bad.error(&self.name)))
        {
            return None;
        }
        let n = self.unmatched.fetch_add(1, Ordering::Relaxed) + 1;
        (n <= UNMATCHED_LOGGED || n.is_multiple_of(1000)).then_some((bad, n))
    }

    pub(super) fn complete(&self, id: &RequestId, outcome: Result<Value, CallError>) {
        let Some(key) = backend_id(id) else {
            warn!("[{}] response with foreign id {id} ignored", self.name);
            return;
        };
        let pending = self.lock().pending.remove(&key);
        match pending {
            Some(p) => {
                debug!("[{}] <- response {key} {}", self.name, p.method);
                (p.reply)(outcome);
            }
            None => debug!("[{}] late or unknown response {key} ignored", self.name),
        }
    }

    /// Whether request `id` still waits for its answer.
    pub fn is_pending(&self, id: u64) -> bool {
        self.lock().pending.contains_key(&id)
    }

    /// The timeout request `id` was sent with, while it is pending.
    pub fn timeout_of(&self, id: u64) -> Option<Duration> {
        self.lock().pending.get(&id).map(|p| p.timeout)
    }

    /// How many requests are waiting for an answer.
    pub fn in_flight(&self) -> usize {
        self.lock().pending.len()
    }
}

/// Unreadable messages of a backend that answer no request and are all
/// logged; after them, every thousandth is.
const UNMATCHED_LOGGED: u64 = 10;

/// Our ids are positive integers; accept them as strings too (lenient peers).
pub(super) fn backend_id(id: &RequestId) -> Option<u64> {
    match id {
        RequestId::Number(n) => u64::try_from(*n).ok(),
        RequestId::String(s) => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{conn, sent};
    use super::*;
    use crate::jsonrpc::ErrorObject;
    use std::sync::mpsc::channel;

    #[test]
    fn ids_are_rewritten_and_replies_matched() {
        let (c, rx, _e) = conn();
        let (tx, results) = channel();
        for _ in 0..2 {
            let tx = tx.clone();
            c.send_request(
                "tools/call",
                Some(json!({"name": "x"})),
                Duration::from_secs(5),
                Box::new(move |r| tx.send(r).unwrap()),
                None,
            );
        }
        let (a, b) = (sent(&rx), sent(&rx));
        assert_ne!(a["id"], b["id"]);
        // Answer the second first; string ids are accepted.
        c.dispatch(json!({"jsonrpc":"2.0","id": b["id"].to_string(),"result":{"n":2}}));
        c.dispatch(
            json!({"jsonrpc":"2.0","id": a["id"],"error":{"code":-5,"message":"m","data":1}}),
        );
        assert_eq!(results.recv().unwrap(), Ok(json!({"n":2})));
        let err = results.recv().unwrap().unwrap_err();
        assert_eq!(
            err,
            CallError::Rpc(ErrorObject {
                code: -5,
                message: "m".into(),
                data: Some(json!(1))
            })
        );
        assert_eq!(c.in_flight(), 0);
    }

    #[test]
    fn an_unreadable_answer_fails_its_call_at_once() {
        use crate::backend::salvage;
        let (c, _rx, _e) = conn();
        let (tx, results) = channel();
        let send = || {
            let tx = tx.clone();
            c.send_request(
                "tools/call",
                None,
                Duration::from_secs(60),
                Box::new(move |r| tx.send(r).unwrap()),
                None,
            )
            .unwrap()
        };
        let (a, b) = (send(), send());
        let line = format!("{{\"id\":\"{a}\",\"result\":\"caf\u{fffd}\"}}");
        assert!(c.unreadable(salvage::invalid_utf8(&line), None).is_none());
        let Err(CallError::Rpc(e)) = results.recv_timeout(Duration::from_secs(5)).unwrap() else {
            panic!("not an error");
        };
        assert_eq!(
            e.message,
            "backend \"t\" sent an unreadable answer: invalid UTF-8"
        );
        // A request of the backend's with our id is not an answer; no id
        // at all falls back to the request it came for.
        let request = salvage::parse(format!("{{\"id\":{b},\"method\":\"x\",").as_bytes());
        assert!(c.unreadable(request.unwrap_err(), Some(b)).is_some());
        assert!(c.is_pending(b));
        let noise = salvage::parse(b"garbage").unwrap_err();
        assert!(c.unreadable(noise, Some(b)).is_none());
        assert!(
            results
                .recv_timeout(Duration::from_secs(5))
                .unwrap()
                .is_err()
        );
        assert_eq!(c.in_flight(), 0);
        // What answers nothing is handed back to be logged, at a rate.
        let logged: Vec<u64> = (0..2000)
            .filter_map(|_| c.unreadable(salvage::parse(b"x").unwrap_err(), None))
            .map(|(_, n)| n)
            .collect();
        assert_eq!(logged.len(), 11, "{logged:?}");
        assert_eq!(logged[10], 2000);
    }
}
