//! The exporter: one thread (`argus-otlp`) takes finished spans from a
//! bounded queue and POSTs them in batches to the collector's
//! `/v1/traces`, as OTLP/HTTP with JSON, [`FLUSH_INTERVAL`] after the
//! first span of a batch. Nothing waits for it: a span that finds the queue
//! full is dropped, and so is a batch the collector refuses or does not
//! take in time (OTLP allows retrying some statuses; a gateway would
//! rather lose spans than hold them). Both count in
//! `argus_telemetry_spans_dropped_total`.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread;
use std::time::Duration;

use log::{info, warn};
use ureq::Agent;

use super::span::{Span, export_body};
use crate::backend::agent::{Limits, agent};
use crate::config::{Telemetry, Tls};
use crate::limits::BACKEND_STACK_BYTES;
use crate::metrics::Metrics;
use crate::runtime::Runtime;
use crate::sync::spawn_named;

/// Spans waiting for the exporter at most; more are dropped.
pub const QUEUE_SPANS: usize = 4096;
/// Spans per POST at most.
const BATCH_SPANS: usize = 512;
/// How long a batch gathers spans after its first: the longest a
/// finished span waits to be sent while the collector keeps up. With
/// [`QUEUE_SPANS`], up to some 40,000 spans a second go out undropped.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// The longest one POST to the collector may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// The sending end: where finished spans go.
#[derive(Debug)]
pub(super) struct Exporter {
    queue: SyncSender<Span>,
    runtime: Arc<Runtime>,
}

impl Exporter {
    /// Starts the exporter thread for `settings`; counts in `runtime`'s
    /// metrics. TLS to an `https` collector trusts the system's roots.
    pub(super) fn start(settings: &Telemetry, runtime: Arc<Runtime>) -> std::io::Result<Exporter> {
        let (queue, spans) = sync_channel(QUEUE_SPANS);
        let url = settings.traces_url();
        let service = settings.service_name.clone();
        let agent = agent(&Tls::default(), Limits::exchange(POST_TIMEOUT));
        let counted = runtime.clone();
        // TLS handshakes need the stack a backend's threads have.
        spawn_named("argus-otlp", BACKEND_STACK_BYTES, move || {
            run(&spans, &agent, &url, &service, counted.metrics())
        })?;
        info!(
            "telemetry: spans go to {}",
            crate::redact::text(&settings.traces_url())
        );
        Ok(Exporter { queue, runtime })
    }

    /// Hands a finished span to the exporter, or drops it when the queue
    /// is full. Runs on the caller's thread; never blocks.
    pub(super) fn submit(&self, span: Span) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.queue.try_send(span)
        {
            self.runtime.metrics().count_spans_dropped(1);
        }
    }
}

/// The exporter thread. Idle, it blocks on the queue; the first span
/// starts a batch, and the thread then sleeps [`FLUSH_INTERVAL`] rather
/// than wait on the queue, so the spans that follow cost their senders
/// no wake-up (a send to a queue nobody waits on is no system call).
/// Then it takes what came, in batches of at most [`BATCH_SPANS`], and
/// sends them; once more when the sending ends go away.
fn run(spans: &Receiver<Span>, agent: &Agent, url: &str, service: &str, metrics: &Metrics) {
    let mut failing = false;
    let mut send = |batch: &[Span]| {
        if !batch.is_empty() {
            send(agent, url, service, batch, metrics, &mut failing);
        }
    };
    while let Ok(first) = spans.recv() {
        let mut batch = vec![first];
        thread::sleep(FLUSH_INTERVAL);
        loop {
            match spans.try_recv() {
                Ok(span) => {
                    batch.push(span);
                    if batch.len() == BATCH_SPANS {
                        send(&batch);
                        batch.clear();
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    send(&batch);
                    return;
                }
            }
        }
        send(&batch);
    }
}

/// POSTs one batch; logs when the collector starts and stops failing.
fn send(
    agent: &Agent,
    url: &str,
    service: &str,
    batch: &[Span],
    metrics: &Metrics,
    failing: &mut bool,
) {
    let body = export_body(service, batch);
    let outcome = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(&body[..]);
    let problem = match outcome {
        Ok(response) if response.status().is_success() => None,
        Ok(response) => Some(format!("the collector answered {}", response.status())),
        Err(e) => Some(e.to_string()),
    };
    let count = batch.len() as u64;
    match problem {
        None => {
            metrics.count_spans_exported(count);
            if std::mem::take(failing) {
                info!("telemetry: the collector takes spans again");
            }
        }
        Some(why) => {
            metrics.count_spans_dropped(count);
            if !std::mem::replace(failing, true) {
                warn!(
                    "telemetry: {count} spans dropped: {}; dropping until the collector takes them (see argus_telemetry_spans_dropped_total)",
                    crate::redact::text(&why)
                );
            }
        }
    }
}
