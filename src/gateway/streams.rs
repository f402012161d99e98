//! The Streamable HTTP plumbing of one 2025-era session: the POSTs waiting
//! for their requests' answers, answer streams being written or parked for
//! a client that resumes, the session's general queue while no GET stream
//! has it, and what the streams sent (the replay). The session itself
//! holds only the conversation; it hands this table the messages that
//! belong to a request ([`RequestStreams`]).

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use log::debug;

use crate::jsonrpc::{Message, RequestId};
use crate::limits::{MAX_REPLAY_STREAMS, SESSION_OUTBOUND_QUEUE};
use crate::queue::{Receiver, Sender, bounded};
use crate::replay::Replay;
use crate::session::{Outbound, RequestStreams, Session};
use crate::sync::lock;

/// What the answer stream of one request carries, typed so the waiting
/// POST never parses a message to learn what it is, and serializes it
/// once, when it writes it.
#[derive(Debug)]
pub(super) enum ForRequest {
    /// Something for the request before its answer (progress, a log, a
    /// backend's request).
    Message(Message),
    /// The request's answer (result or error): the last item.
    Answer(Message),
    /// The client cancelled the request: no answer will come.
    Cancelled,
    /// Stop writing and park the rest: the client resumes on a new GET.
    Yield,
}

/// The streams of one Streamable HTTP session.
#[derive(Debug, Default)]
pub(super) struct StreamableStreams {
    /// The POSTs waiting for their requests' answers.
    request_streams: Mutex<HashMap<RequestId, Sender<ForRequest>>>,
    /// The general queue's receiver while no GET stream has it.
    parked: Mutex<Option<Receiver<Outbound>>>,
    /// Answer streams whose client went away before the answer, by stream
    /// name: the request and what is still to come, for a resuming GET.
    parked_requests: Mutex<HashMap<String, (RequestId, Receiver<ForRequest>)>>,
    /// Answer streams being written, by stream name: their requests.
    answer_streams: Mutex<HashMap<String, RequestId>>,
    /// Signalled whenever a queue is parked (the general one or an answer
    /// stream's), for a resuming GET that asked its writer to yield.
    parked_ready: Condvar,
    /// What the session's streams sent, for clients that resume.
    pub(super) replay: Replay,
}

/// Runs on whichever thread has the message or ends the session (a
/// connection, a backend reader or timer), under no lock of the session's.
impl RequestStreams for StreamableStreams {
    fn send(&self, id: &RequestId, message: Message) -> Result<bool, Message> {
        let Some(tx) = lock(&self.request_streams).get(id).cloned() else {
            return Err(message);
        };
        debug!("-> (request {id}) {}", message.to_json_text());
        let answer = matches!(&message,
            Message::Response { id: a, .. } | Message::Error { id: Some(a), .. } if a == id);
        let item = if answer {
            ForRequest::Answer(message)
        } else {
            ForRequest::Message(message)
        };
        Ok(tx.try_send(item).is_ok())
    }

    fn cancel(&self, id: &RequestId) {
        if let Some(tx) = lock(&self.request_streams).remove(id) {
            let _ = tx.try_send(ForRequest::Cancelled);
        }
    }

    fn busy(&self) -> bool {
        // Answer streams parked for a resume hold nobody's connection.
        lock(&self.request_streams).len() > lock(&self.parked_requests).len()
    }

    fn close(&self) {
        // POSTs still waiting for answers hear that the session is gone.
        lock(&self.request_streams).clear();
    }
}

impl StreamableStreams {
    /// Opens the answer stream of request `id` (a POST); `None` if a
    /// request with that id is already waiting (MCP forbids reusing an id
    /// in flight, and the answers could not be told apart).
    pub(super) fn open_request_stream(&self, id: RequestId) -> Option<Receiver<ForRequest>> {
        let mut streams = lock(&self.request_streams);
        if streams.contains_key(&id) {
            return None;
        }
        let (tx, rx) = bounded(SESSION_OUTBOUND_QUEUE);
        streams.insert(id, tx);
        Some(rx)
    }

    /// Closes the answer stream of request `id`.
    pub(super) fn close_request_stream(&self, id: &RequestId) {
        lock(&self.request_streams).remove(id);
    }

    /// Keeps the rest of request `id`'s answer stream `stream` for a client
    /// that will resume it (its connection went away before the answer).
    pub(super) fn park_request_stream(
        &self,
        stream: String,
        id: RequestId,
        rx: Receiver<ForRequest>,
    ) {
        let mut parked = lock(&self.parked_requests);
        if parked.len() >= MAX_REPLAY_STREAMS {
            // Nobody resumed these: stop holding them (their answers then
            // go to the GET stream, if any).
            let ids: Vec<RequestId> = parked.drain().map(|(_, (id, _))| id).collect();
            drop(parked);
            for id in &ids {
                self.close_request_stream(id);
            }
            parked = lock(&self.parked_requests);
        }
        parked.insert(stream, (id, rx));
        drop(parked);
        self.parked_ready.notify_all();
    }

    /// Records that answer stream `stream` carries request `id`'s messages.
    pub(super) fn answer_stream_opened(&self, stream: &str, id: &RequestId) {
        lock(&self.answer_streams).insert(stream.to_owned(), id.clone());
    }

    /// Answer stream `stream` is done (or about to be parked).
    pub(super) fn answer_stream_closed(&self, stream: &str) {
        lock(&self.answer_streams).remove(stream);
        self.parked_ready.notify_all();
    }

    /// A GET resuming answer stream `stream`: its parked rest, asking the
    /// writer that still has it to yield first (waiting at most `wait`).
    /// `None` when the stream is over.
    pub(super) fn take_answer_stream_over(
        &self,
        stream: &str,
        wait: Duration,
    ) -> Option<(RequestId, Receiver<ForRequest>)> {
        if let Some(parked) = lock(&self.parked_requests).remove(stream) {
            return Some(parked);
        }
        let id = lock(&self.answer_streams).get(stream).cloned()?;
        let tx = lock(&self.request_streams).get(&id).cloned()?;
        let _ = tx.try_send(ForRequest::Yield);
        let mut parked = self
            .parked_ready
            .wait_timeout_while(lock(&self.parked_requests), wait, |p| {
                // Until it is parked, or its writer finished without (the
                // answer went out: the caller finds it in the replay).
                !p.contains_key(stream) && lock(&self.answer_streams).contains_key(stream)
            })
            .unwrap_or_else(|e| e.into_inner())
            .0;
        parked.remove(stream)
    }

    /// Parks `session`'s general queue until a GET takes it.
    pub(super) fn park(&self, session: &Session, rx: Receiver<Outbound>) {
        *lock(&self.parked) = Some(rx);
        session.set_listening(false);
        self.parked_ready.notify_all();
    }

    /// Takes `session`'s general queue for a GET stream; `None` when
    /// another GET stream has it.
    pub(super) fn take_stream(&self, session: &Session) -> Option<Receiver<Outbound>> {
        let rx = lock(&self.parked).take()?;
        session.set_listening(true);
        Some(rx)
    }

    /// A GET resuming the general stream: takes the queue, asking a GET
    /// stream that still has it (its client is gone, but it has not
    /// noticed yet) to yield, and waiting at most `wait` for that.
    pub(super) fn take_stream_over(
        &self,
        session: &Session,
        wait: Duration,
    ) -> Option<Receiver<Outbound>> {
        if let Some(rx) = self.take_stream(session) {
            return Some(rx);
        }
        session.ask_writer_to_yield();
        let parked = self
            .parked_ready
            .wait_timeout_while(lock(&self.parked), wait, |p| p.is_none())
            .unwrap_or_else(|e| e.into_inner())
            .0;
        drop(parked);
        self.take_stream(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Transport;
    use crate::jsonrpc::code;
    use std::sync::Arc;

    fn session(streams: &Arc<StreamableStreams>) -> (Session, Receiver<Outbound>) {
        let (session, rx) = Session::new(
            "0".repeat(32),
            Transport::StreamableHttp,
            "127.0.0.1:1".parse().unwrap(),
            None,
            16,
        );
        (session.with_request_streams(streams.clone()), rx)
    }

    fn id(n: i64) -> RequestId {
        RequestId::Number(n)
    }

    #[test]
    fn a_request_s_messages_go_to_its_stream_and_its_answer_ends_it() {
        let streams = Arc::new(StreamableStreams::default());
        let (session, general) = session(&streams);
        streams.park(&session, general);
        let rx = streams.open_request_stream(id(1)).unwrap();
        assert!(streams.open_request_stream(id(1)).is_none(), "one per id");
        let progress = Message::notification("notifications/progress", None);
        assert!(session.send_for(&id(1), progress));
        assert!(session.send(Message::response(id(1), serde_json::json!({}))));
        assert!(matches!(rx.try_recv(), Ok(ForRequest::Message(_))));
        assert!(matches!(
            rx.try_recv(),
            Ok(ForRequest::Answer(Message::Response { .. }))
        ));
        // An error with another id is not this request's answer.
        let other = Message::error(Some(id(2)), code::INTERNAL_ERROR, "x");
        assert_eq!(streams.send(&id(1), other).ok(), Some(true));
        assert!(matches!(rx.try_recv(), Ok(ForRequest::Message(_))));
        // No stream waits for request 3: the message comes back.
        let back = streams.send(&id(3), Message::response(id(3), serde_json::json!({})));
        assert!(back.is_err());
    }

    #[test]
    fn cancelling_closing_and_parking_tell_the_waiting_post() {
        let streams = Arc::new(StreamableStreams::default());
        let (session, general) = session(&streams);
        streams.park(&session, general);
        let one = streams.open_request_stream(id(1)).unwrap();
        let two = streams.open_request_stream(id(2)).unwrap();
        assert!(streams.busy());
        session.cancel_request_stream(&id(1));
        assert!(matches!(one.try_recv(), Ok(ForRequest::Cancelled)));
        streams.park_request_stream("s".into(), id(2), two);
        assert!(!streams.busy(), "a parked stream holds no connection");
        assert!(
            streams
                .take_answer_stream_over("s", Duration::ZERO)
                .is_some()
        );
        assert!(
            streams
                .take_answer_stream_over("s", Duration::ZERO)
                .is_none()
        );
        let three = streams.open_request_stream(id(3)).unwrap();
        session.close();
        assert!(three.try_recv().is_err(), "the sender is gone");
    }

    #[test]
    fn the_general_queue_is_parked_until_one_get_takes_it() {
        let streams = Arc::new(StreamableStreams::default());
        let (session, general) = session(&streams);
        streams.park(&session, general);
        // Parked: nothing drains the queue, so nothing is queued.
        assert!(!session.send(Message::notification("notifications/message", None)));
        let rx = streams.take_stream(&session).unwrap();
        assert!(streams.take_stream(&session).is_none(), "one GET at a time");
        assert!(session.send(Message::notification("notifications/message", None)));
        assert!(matches!(rx.try_recv(), Ok(Outbound::Message(_))));
        streams.park(&session, rx);
        assert!(streams.take_stream_over(&session, Duration::ZERO).is_some());
    }
}
