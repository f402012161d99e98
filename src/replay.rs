//! What a resumable stream sent, so that a client that lost its connection
//! gets the rest (MCP 2025-11-25, Basic › Transports › Streamable HTTP ›
//! Resumability and Redelivery).
//!
//! Every event on a session's `/mcp` streams carries an id `<stream>-<n>`:
//! stream `g` is the GET stream, `r<k>` the answer stream of one POST. The
//! last [`MAX_REPLAY_EVENTS`] events of each stream are kept; a GET with
//! `Last-Event-ID` gets those after the one named. At most
//! [`MAX_REPLAY_STREAMS`] streams and [`MAX_REPLAY_BYTES`] are kept per
//! session (the oldest answer streams' events go first; an event larger
//! than the budget is sent but not kept). Pure bookkeeping under one lock;
//! no IO.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use crate::limits::{MAX_REPLAY_BYTES, MAX_REPLAY_EVENTS, MAX_REPLAY_STREAMS};
use crate::sync;

/// The GET stream's name.
pub const GENERAL: &str = "g";

/// The replay buffers of one session.
#[derive(Debug, Default)]
pub struct Replay(Mutex<Buffers>);

#[derive(Debug, Default)]
struct Buffers {
    /// Answer streams are numbered in order, so the oldest is the first key.
    next_stream: u64,
    streams: BTreeMap<StreamKey, Stream>,
    /// Bytes of data kept, all streams together.
    bytes: usize,
}

/// `g` sorts after every `r<k>`, so it is never the oldest to evict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum StreamKey {
    Request(u64),
    General,
}

impl StreamKey {
    fn parse(name: &str) -> Option<StreamKey> {
        if name == GENERAL {
            return Some(StreamKey::General);
        }
        name.strip_prefix('r')?.parse().ok().map(StreamKey::Request)
    }

    fn name(self) -> String {
        match self {
            StreamKey::General => GENERAL.to_owned(),
            StreamKey::Request(k) => format!("r{k}"),
        }
    }
}

#[derive(Debug, Default)]
struct Stream {
    next_seq: u64,
    events: VecDeque<(u64, String)>,
}

impl Replay {
    fn lock(&self) -> MutexGuard<'_, Buffers> {
        // Each change is one insert or removal: consistent after a panic.
        sync::lock(&self.0)
    }

    /// Names a new answer stream.
    pub fn new_request_stream(&self) -> String {
        let mut b = self.lock();
        let key = StreamKey::Request(b.next_stream);
        b.next_stream += 1;
        key.name()
    }

    /// Keeps `data` as the next event of `stream`; returns its event id.
    pub fn record(&self, stream: &str, data: &str) -> String {
        let Some(key) = StreamKey::parse(stream) else {
            return String::new();
        };
        let mut b = self.lock();
        if !b.streams.contains_key(&key) && b.streams.len() >= MAX_REPLAY_STREAMS {
            let oldest = *b.streams.keys().next().expect("not empty");
            if let Some(gone) = b.streams.remove(&oldest) {
                b.bytes -= gone.bytes();
            }
        }
        let s = b.streams.entry(key).or_default();
        let seq = s.next_seq;
        s.next_seq += 1;
        let mut freed = 0;
        if s.events.len() == MAX_REPLAY_EVENTS
            && let Some((_, old)) = s.events.pop_front()
        {
            freed += old.len();
        }
        let kept = data.len() <= MAX_REPLAY_BYTES;
        if kept {
            s.events.push_back((seq, data.to_owned()));
        }
        b.bytes = b.bytes - freed + if kept { data.len() } else { 0 };
        b.shrink_to_budget();
        format!("{stream}-{seq}")
    }

    /// For `Last-Event-ID: last`: the stream it belongs to and the events
    /// after it that are still kept, as (event id, data). `None` when the
    /// id is not one of ours or its stream is gone.
    pub fn since(&self, last: &str) -> Option<(String, Vec<(String, String)>)> {
        let (stream, seq) = last.trim().rsplit_once('-')?;
        let key = StreamKey::parse(stream)?;
        let seq: u64 = seq.parse().ok()?;
        let b = self.lock();
        let s = b.streams.get(&key)?;
        let missed = s
            .events
            .iter()
            .filter(|(n, _)| *n > seq)
            .map(|(n, data)| (format!("{stream}-{n}"), data.clone()))
            .collect();
        Some((stream.to_owned(), missed))
    }

    /// Drops a stream's buffer (its answer was delivered).
    pub fn forget(&self, stream: &str) {
        if let Some(key) = StreamKey::parse(stream) {
            let mut b = self.lock();
            if let Some(gone) = b.streams.remove(&key) {
                b.bytes -= gone.bytes();
            }
        }
    }
}

impl Stream {
    fn bytes(&self) -> usize {
        self.events.iter().map(|(_, d)| d.len()).sum()
    }
}

impl Buffers {
    /// Drops the oldest events (oldest streams first) while over budget.
    fn shrink_to_budget(&mut self) {
        while self.bytes > MAX_REPLAY_BYTES {
            let Some((&key, stream)) = self.streams.iter_mut().find(|(_, s)| !s.events.is_empty())
            else {
                self.bytes = 0;
                return;
            };
            if let Some((_, old)) = stream.events.pop_front() {
                self.bytes -= old.len();
            }
            if stream.events.is_empty() && key != StreamKey::General {
                self.streams.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_after_the_last_one_seen_are_replayed() {
        let r = Replay::default();
        assert_eq!(r.record(GENERAL, "a"), "g-0");
        assert_eq!(r.record(GENERAL, "b"), "g-1");
        let s = r.new_request_stream();
        assert_eq!(r.record(&s, "x"), "r0-0");
        assert_eq!(
            r.since("g-0"),
            Some(("g".to_owned(), vec![("g-1".to_owned(), "b".to_owned())]))
        );
        assert_eq!(r.since("r0-0"), Some(("r0".to_owned(), vec![])));
        assert_eq!(r.since("nope"), None);
        assert_eq!(r.since("r9-0"), None);
        r.forget(&s);
        assert_eq!(r.since("r0-0"), None);
    }

    #[test]
    fn bytes_are_bounded() {
        let r = Replay::default();
        let big = "x".repeat(MAX_REPLAY_BYTES / 4 + 1);
        let s = r.new_request_stream();
        for _ in 0..4 {
            r.record(&s, &big);
        }
        let (_, kept) = r.since(&format!("{s}-0")).unwrap_or_default();
        assert!(kept.len() < 4, "over budget: {} kept", kept.len());
        r.record(GENERAL, &"y".repeat(MAX_REPLAY_BYTES + 1));
        assert_eq!(
            r.since("g-0").map(|(_, m)| m.len()),
            Some(0),
            "too large to keep"
        );
        assert!(r.lock().bytes <= MAX_REPLAY_BYTES);
    }

    #[test]
    fn buffers_are_bounded() {
        let r = Replay::default();
        for i in 0..MAX_REPLAY_EVENTS + 5 {
            r.record(GENERAL, &i.to_string());
        }
        let (_, missed) = r.since("g-0").unwrap();
        assert_eq!(missed.len(), MAX_REPLAY_EVENTS);
        assert_eq!(missed[0].1, "5");
        let first = r.new_request_stream();
        r.record(&first, "old");
        for _ in 0..MAX_REPLAY_STREAMS {
            let s = r.new_request_stream();
            r.record(&s, "new");
        }
        assert_eq!(
            r.since(&format!("{first}-0")),
            None,
            "the oldest stream went"
        );
        assert!(r.since("g-0").is_some(), "the GET stream stays");
    }
}
