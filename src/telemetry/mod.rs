//! Traces of the gateway's work, exported to an OpenTelemetry collector
//! (`telemetry` in the config): a server span per client request, and a
//! client span, its child, per request sent to a backend. A caller's W3C
//! trace context (`context`) is continued; a caller that does not sample
//! its trace gets no spans of ours either. Spans are encoded as OTLP/HTTP
//! JSON (`span`) and sent in batches by one thread (`export`); a request
//! never waits for any of it. What a span records of a request is the
//! router's to say.

mod context;
mod export;
mod span;

pub use context::TraceParent;
pub use span::Attr;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use log::error;

use crate::runtime::Runtime;
use export::Exporter;
use span::{CLIENT, SERVER, Span};

/// Makes spans and hands them to the exporter.
#[derive(Debug)]
pub struct Tracer {
    exporter: Exporter,
    ids: Ids,
}

impl Tracer {
    /// The tracer `runtime`'s config asks for; `None` when telemetry is
    /// off, or its thread cannot start (logged: the gateway serves
    /// without).
    pub fn start(runtime: &Arc<Runtime>) -> Option<Arc<Tracer>> {
        let config = runtime.config();
        if !config.telemetry.enabled {
            return None;
        }
        match Exporter::start(&config.telemetry, runtime.clone()) {
            Ok(exporter) => Some(Arc::new(Tracer {
                exporter,
                ids: Ids::seeded(),
            })),
            Err(e) => {
                error!("telemetry: cannot start the exporter thread: {e}; no spans will be sent");
                None
            }
        }
    }

    /// A server span named `name`, the child of `parent` (a caller's
    /// context) or the root of a new trace; `None` when the caller does
    /// not sample its trace.
    pub fn serve(self: &Arc<Self>, name: &str, parent: Option<TraceParent>) -> Option<OpenSpan> {
        if parent.is_some_and(|p| !p.sampled()) {
            return None;
        }
        let trace_id = match parent {
            Some(p) => p.trace_id,
            None => self.ids.trace_id(),
        };
        Some(OpenSpan::new(
            self,
            (trace_id, parent.map_or(1, |p| p.flags)),
            parent.map(|p| (p.span_id, true)),
            SERVER,
            name,
        ))
    }
}

/// How a span's work ended, as its status and `error.type` say it.
#[derive(Debug, Clone, Copy)]
pub enum SpanEnd<'a> {
    /// Answered with a result.
    Ok,
    /// A tool's result with `isError: true` (`error.type` `tool_error`).
    ToolError,
    /// A JSON-RPC error: its code and message.
    Rpc(i64, &'a str),
    /// No answer came: a word for why (`timeout`, `disconnected`, …) and
    /// a description.
    Failed(&'a str, &'a str),
}

/// A span being recorded; exported when ended, or when dropped unended
/// (as `Failed("unanswered")`: its request got no answer).
#[derive(Debug)]
pub struct OpenSpan {
    span: Option<Span>,
    tracer: Arc<Tracer>,
}

impl OpenSpan {
    fn new(
        tracer: &Arc<Tracer>,
        (trace_id, trace_flags): ([u8; 16], u8),
        parent: Option<([u8; 8], bool)>,
        kind: u8,
        name: &str,
    ) -> OpenSpan {
        let span = Span {
            trace_id,
            span_id: tracer.ids.span_id(),
            parent,
            trace_flags,
            kind,
            name: name.to_owned(),
            start_ns: now_ns(),
            end_ns: 0,
            attributes: Vec::new(),
            error: None,
        };
        OpenSpan {
            span: Some(span),
            tracer: tracer.clone(),
        }
    }

    /// Sets attribute `key` (again: the last value counts).
    pub fn set(&mut self, key: &'static str, value: Attr) {
        let Some(span) = self.span.as_mut() else {
            return;
        };
        match span.attributes.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => span.attributes.push((key, value)),
        }
    }

    /// Renames the span.
    pub fn rename(&mut self, name: String) {
        if let Some(span) = self.span.as_mut() {
            span.name = name;
        }
    }

    /// A client span named `name`, this one's child.
    pub fn child(&self, name: &str) -> Option<OpenSpan> {
        let span = self.span.as_ref()?;
        Some(OpenSpan::new(
            &self.tracer,
            (span.trace_id, span.trace_flags),
            Some((span.span_id, false)),
            CLIENT,
            name,
        ))
    }

    /// The context that makes a callee's spans this one's children.
    pub fn context(&self) -> Option<TraceParent> {
        let span = self.span.as_ref()?;
        Some(TraceParent {
            trace_id: span.trace_id,
            span_id: span.span_id,
            flags: span.trace_flags,
        })
    }

    /// Ends the span as `ending` says, and hands it to the exporter.
    pub fn end(mut self, ending: SpanEnd<'_>) {
        self.finish(ending);
    }

    fn finish(&mut self, ending: SpanEnd<'_>) {
        let Some(mut span) = self.span.take() else {
            return;
        };
        span.end_ns = now_ns().max(span.start_ns);
        let error = match ending {
            SpanEnd::Ok => None,
            SpanEnd::ToolError => Some(("tool_error".to_owned(), "tool error".to_owned())),
            SpanEnd::Rpc(code, message) => {
                let code = code.to_string();
                let status = ("rpc.response.status_code", Attr::Str(code.clone()));
                span.attributes.push(status);
                Some((code, message.to_owned()))
            }
            SpanEnd::Failed(kind, why) => Some((kind.to_owned(), why.to_owned())),
        };
        if let Some((kind, message)) = error {
            span.attributes.push(("error.type", Attr::Str(kind)));
            span.error = Some(message);
        }
        self.tracer.exporter.submit(span);
    }
}

impl Drop for OpenSpan {
    fn drop(&mut self) {
        self.finish(SpanEnd::Failed("unanswered", "the request got no answer"));
    }
}

/// Nanoseconds since the Unix epoch, now.
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Trace and span ids: SplitMix64 over a counter seeded from the OS's
/// random source once, so ids are unique, unpredictable enough for
/// tracing (they are no secrets), and cost no system call.
#[derive(Debug)]
struct Ids {
    seed: u64,
    next: AtomicU64,
}

impl Ids {
    fn seeded() -> Ids {
        let seed = crate::random::bytes::<8>()
            .map(u64::from_le_bytes)
            .unwrap_or_else(|_| now_ns() ^ u64::from(std::process::id()));
        Ids {
            seed,
            next: AtomicU64::new(1),
        }
    }

    /// The next non-zero 64 random-looking bits.
    fn draw(&self) -> u64 {
        loop {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let mut z = self
                .seed
                .wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            if z != 0 {
                return z;
            }
        }
    }

    fn span_id(&self) -> [u8; 8] {
        self.draw().to_be_bytes()
    }

    fn trace_id(&self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.draw().to_be_bytes());
        id[8..].copy_from_slice(&self.draw().to_be_bytes());
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_never_zero() {
        let ids = Ids::seeded();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = ids.span_id();
            assert_ne!(id, [0; 8]);
            assert!(seen.insert(id));
        }
        assert_ne!(ids.trace_id(), ids.trace_id());
    }
}
