//! The life of one backend, on its own supervisor thread: start under the
//! concurrency limit, retry with backoff, serve the connection's events
//! (list changes, notifications, requests for clients), restart when it
//! goes away, and stop in stages.

use super::*;

/// The delay before retry number `failures` (1-based): `first`, then ×`backoff`
/// each time, never more than [`MAX_RETRY_DELAY`].
pub(super) fn retry_delay(first: Duration, backoff: f64, failures: u32) -> Duration {
    let factor = backoff.powi(failures.saturating_sub(1).min(64) as i32);
    Duration::try_from_secs_f64(first.as_secs_f64() * factor)
        .unwrap_or(MAX_RETRY_DELAY)
        .min(MAX_RETRY_DELAY)
}

impl Supervisor {
    /// The life of backend `index`.
    pub(super) fn run(self: Arc<Self>, index: usize) {
        let slot = self.slot(index);
        let slot = &*slot;
        let name = slot.config.name.clone();
        let backoff = self.config().lifecycle.retry_backoff;
        // Failed attempts in a row. A connection that dies within
        // `STABLE_CONNECTION` counts as one too, so a backend that crashes
        // right after its handshake backs off like one that cannot start
        // (before, every connect reset the count: a tight respawn loop
        // flooding sessions with list_changed).
        let mut failures: u32 = 0;
        let credentials = backend::credentials(&slot.config);
        while !self.stopping() && !slot.retired.load(Ordering::SeqCst) {
            let (tx, rx) = backend::events(&name);
            let Some(attempt) = self.start_once(slot, &credentials, tx) else {
                break;
            };
            let message = match attempt {
                Ok(link) => match self.serve_link(index, slot, Arc::new(link), &rx) {
                    AfterLink::Stop => break,
                    AfterLink::Restart => {
                        failures = 0;
                        continue;
                    }
                    AfterLink::Failed(message) => message,
                },
                Err(e) => redact::text(&e.to_string()).into_owned(),
            };
            failures += 1;
            if !self.after_failure(index, slot, backoff, failures, &message) {
                break;
            }
        }
        self.first_attempt_done(index);
        self.attempted(index);
        debug!(target: LOG_TARGET, "[{name}] supervisor ended");
    }

    /// One attempt to start the slot's backend, under a start-up permit,
    /// with its connection recorded while it starts (so a stop can close
    /// it); `None` if shutdown began while waiting for the permit.
    fn start_once(
        &self,
        slot: &Slot,
        credentials: &Arc<backend::Credentials>,
        tx: backend::EventSender,
    ) -> Option<Result<Link, backend::Error>> {
        let connected = |conn: &Arc<Connection>| {
            lock(&slot.state).connecting = Some(Arc::downgrade(conn));
            // `stop` (or a reload) may have looked before this was recorded.
            if self.stopping() || slot.retired.load(Ordering::SeqCst) {
                conn.close("the gateway is shutting down");
            }
        };
        let hooks = backend::Startup {
            connected: &connected,
            cancelled: &|| self.stopping() || slot.retired.load(Ordering::SeqCst),
        };
        self.with_permit(|| {
            let attempt = backend::start(&slot.config, credentials, tx, &hooks);
            lock(&slot.state).connecting = None;
            attempt
        })
    }

    /// Serves a freshly connected link until it goes away, then takes it
    /// out of the slot and the catalog; says what the life loop does next.
    fn serve_link(
        &self,
        index: usize,
        slot: &Slot,
        link: Arc<Link>,
        rx: &EventReceiver,
    ) -> AfterLink {
        let name = &slot.config.name;
        if !self.enter_connected(index, slot, &link) {
            return AfterLink::Stop;
        }
        let up_since = Instant::now();
        let cause = self.connected(index, &link, rx);
        let cause = self.disconnect_cause(slot, &link, cause);
        let ended = unlink(slot, &cause);
        link.stop();
        if self.stopping() {
            return AfterLink::Stop;
        }
        self.rebuild();
        if ended {
            return AfterLink::Stop;
        }
        self.runtime.events().record(
            "backend_disconnected",
            Severity::Warning,
            Some(name),
            format!("disconnected: {cause}"),
            None,
        );
        if up_since.elapsed() >= STABLE_CONNECTION {
            // It ran well: restart at once, with a fresh count.
            warn!(target: LOG_TARGET, "[{name}] disconnected ({cause}); restarting");
            lock(&slot.state).attempts = 0;
            return AfterLink::Restart;
        }
        AfterLink::Failed(format!(
            "disconnected {:.1}s after connecting ({cause})",
            up_since.elapsed().as_secs_f64()
        ))
    }

    /// Puts a new link in the slot (status `Connected`), tells of it, and
    /// brings it into the catalog; `false` (the link stopped) if the slot
    /// was stopped meanwhile.
    fn enter_connected(&self, index: usize, slot: &Slot, link: &Arc<Link>) -> bool {
        let name = &slot.config.name;
        let d = &link.discovered;
        let summary = format!(
            "{} tools, {} resources, {} templates, {} prompts",
            d.tools.len(),
            d.resources.len(),
            d.templates.len(),
            d.prompts.len()
        );
        info!(target: PROGRESS_LOG, "[{name}] connected: {summary}");
        {
            let mut s = lock(&slot.state);
            if s.status == BackendStatus::Stopped {
                drop(s);
                link.stop();
                return false;
            }
            s.enter(BackendStatus::Connected, None);
            s.connected_at = Some(SystemTime::now());
            s.connections += 1;
            s.discovered = Some(link.discovered.clone());
            s.link = Some(link.clone());
        }
        self.runtime.events().record(
            "backend_connected",
            Severity::Info,
            Some(name),
            format!("connected: {summary}"),
            None,
        );
        if !self.first_attempt_done(index) {
            self.rebuild();
            if let Some(l) = self.listener() {
                l.backend_ready(index, &link.conn);
            }
        }
        // Only now, with the catalog rebuilt: a reload waits for it.
        self.attempted(index);
        true
    }

    /// Why a link ended, redacted: `cause`, with the last lines of the
    /// process's stderr when it went away by itself (not stopped by us).
    fn disconnect_cause(&self, slot: &Slot, link: &Link, cause: String) -> String {
        let mut cause = cause;
        // Gone by itself (not stopped by us): it may have said why.
        if !self.stopping() && lock(&slot.state).status != BackendStatus::Stopped {
            cause = backend::stdio::with_stderr(&cause, link.stderr_tail().as_deref());
        }
        redact::text(&cause).into_owned()
    }

    /// After failed attempt number `failures` (with `message`): records it,
    /// then gives up or waits out the retry delay; returns whether to try
    /// again.
    fn after_failure(
        &self,
        index: usize,
        slot: &Slot,
        backoff: f64,
        failures: u32,
        message: &str,
    ) -> bool {
        let name = &slot.config.name;
        let t = &slot.config.timeouts;
        let exhausted = failures > t.retries;
        record_failure(slot, failures, exhausted, message);
        self.first_attempt_done(index);
        self.attempted(index);
        if slot.retired.load(Ordering::SeqCst) || self.stopping() {
            return false;
        }
        if exhausted {
            error!(target: LOG_TARGET, "[{name}] failed: {message}; giving up after {failures} attempt(s)");
            self.runtime.events().record(
                "backend_failed",
                Severity::Error,
                Some(name),
                format!("failed after {failures} attempt(s): {message}"),
                None,
            );
            return false;
        }
        let delay = retry_delay(t.retry_delay, backoff, failures);
        warn!(target: LOG_TARGET,
            "[{name}] failed: {message}; retry {failures}/{} in {:.1}s",
            t.retries,
            delay.as_secs_f64()
        );
        self.runtime.events().record(
            "backend_retrying",
            Severity::Warning,
            Some(name),
            format!(
                "attempt {failures} failed: {message}; retry in {:.1}s",
                delay.as_secs_f64()
            ),
            None,
        );
        self.sleep(slot, delay)
    }

    /// After a panic in backend `index`'s life: stops what it had, takes it
    /// out of the catalog, and waits its retry delay. Returns whether to
    /// start it again (not when shutting down).
    pub(super) fn recover(&self, index: usize) -> bool {
        let slot = self.slot(index);
        let slot = &*slot;
        error!(target: LOG_TARGET,
            "[{}] supervisor panicked; restarting the backend",
            slot.config.name
        );
        let link = {
            let mut s = lock(&slot.state);
            if s.status != BackendStatus::Stopped {
                let why = "internal error in the gateway (see its log)";
                s.enter(BackendStatus::Retrying, Some(why.into()));
                s.last_error = Some(why.into());
            }
            s.discovered = None;
            s.link.take()
        };
        if let Some(link) = link {
            link.stop();
        }
        self.first_attempt_done(index);
        self.attempted(index);
        // A panic inside a rebuild leaves the previous catalog in place.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| self.rebuild()));
        !self.stopping()
            && !slot.retired.load(Ordering::SeqCst)
            && self.sleep(slot, slot.config.timeouts.retry_delay)
    }

    /// Runs `f` holding one of `startup_concurrency` permits; `None` if
    /// shutdown began while waiting.
    pub(super) fn with_permit<T>(&self, f: impl FnOnce() -> T) -> Option<T> {
        let limit = self.config().lifecycle.startup_concurrency;
        let mut n = lock(&self.starting);
        while *n >= limit {
            if self.stopping() {
                return None;
            }
            n = self
                .starting_freed
                .wait(n)
                .unwrap_or_else(|e| e.into_inner());
        }
        if self.stopping() {
            return None;
        }
        *n += 1;
        drop(n);
        let result = f();
        *lock(&self.starting) -= 1;
        self.starting_freed.notify_one();
        Some(result)
    }

    /// Waits `delay` unless shutdown begins; returns `false` on shutdown.
    pub(super) fn sleep(&self, slot: &Slot, delay: Duration) -> bool {
        let stopped = |s: &SlotState| self.stopping() || s.status == BackendStatus::Stopped;
        let s = slot
            .wake
            .wait_timeout_while(lock(&slot.state), delay, |s| !stopped(s))
            .unwrap_or_else(|e| e.into_inner())
            .0;
        !stopped(&s)
    }

    /// Serves a connected backend's events until its connection closes;
    /// returns the cause.
    pub(super) fn connected(&self, index: usize, link: &Link, rx: &EventReceiver) -> String {
        let slot = self.slot(index);
        let name = &slot.config.name;
        let refresh = refresh_interval(link);
        loop {
            let next = match refresh {
                None => rx.recv(),
                // A 2026-07-28 backend that tells no one of list changes:
                // its lists are fetched again when its hints expire.
                Some(every) => rx.recv_timeout(every).unwrap_or_else(|_| {
                    Some(BackendEvent::Notification {
                        method: crate::mcp::method::TOOLS_LIST_CHANGED.into(),
                        params: None,
                    })
                }),
            };
            let Some(event) = next else {
                return "event channel closed".into();
            };
            // One event that trips a bug is dropped; the backend goes on.
            match panic::catch_unwind(AssertUnwindSafe(|| self.on_event(index, link, rx, event))) {
                Ok(Some(cause)) => return cause,
                Ok(None) => {}
                Err(_) => {
                    error!(target: LOG_TARGET, "[{name}] handling a backend event panicked; event dropped")
                }
            }
        }
    }

    /// Handles one event of a connected backend; `Some(cause)` when the
    /// connection closed.
    pub(super) fn on_event(
        &self,
        index: usize,
        link: &Link,
        rx: &EventReceiver,
        event: BackendEvent,
    ) -> Option<String> {
        let slot = self.slot(index);
        let name = &slot.config.name;
        match event {
            BackendEvent::Closed(cause) => return Some(cause),
            BackendEvent::Request(request) => self.ask(name, &link.conn, request),
            BackendEvent::Notification { method, params } => {
                if method.ends_with("/list_changed") {
                    // Coalesce a burst into one re-discovery.
                    let mut closed = None;
                    while let Some(next) = rx.try_recv() {
                        match next {
                            BackendEvent::Closed(cause) => closed = Some(cause),
                            BackendEvent::Notification { method, params }
                                if !method.ends_with("/list_changed") =>
                            {
                                self.forward(name, &method, params)
                            }
                            BackendEvent::Notification { .. } => {}
                            BackendEvent::Request(request) => self.ask(name, &link.conn, request),
                        }
                    }
                    if closed.is_some() {
                        return closed;
                    }
                    debug!(target: LOG_TARGET, "[{name}] {method}: re-discovering");
                    match backend::rediscover(link, slot.config.timeouts.cap_fetch) {
                        Ok(fresh) => {
                            lock(&slot.state).discovered = Some(fresh);
                            if self.first_pass_complete() {
                                self.rebuild();
                            }
                        }
                        Err(_) if self.stopping() => {}
                        Err(e) => warn!(target: LOG_TARGET, "[{name}] re-discovery failed: {e}"),
                    }
                } else {
                    self.forward(name, &method, params);
                }
            }
        }
        None
    }

    /// Hands a backend's request to the listener, or refuses it.
    pub(super) fn ask(&self, backend: &str, conn: &Arc<Connection>, request: BackendRequest) {
        match self.listener() {
            Some(l) => {
                let BackendRequest {
                    id,
                    method,
                    params,
                    origin,
                } = request;
                l.request(backend, conn, id, &method, params, origin)
            }
            None => {
                conn.respond(&Message::error(
                    Some(request.id),
                    code::METHOD_NOT_FOUND,
                    format!("{}: no client to ask", request.method),
                ));
            }
        }
    }

    pub(super) fn forward(&self, backend: &str, method: &str, params: Option<Value>) {
        match self.listener() {
            Some(l) => l.notification(backend, method, params),
            None => debug!(target: LOG_TARGET, "[{backend}] {method} dropped (no listener)"),
        }
    }

    /// Counts backend `index`'s first attempt in the first pass, once, if
    /// the pass is still going; returns whether this call counted it (the
    /// pass then builds the catalog, so the caller must not). A slot that a
    /// reload started is not part of the pass: `false`, and the caller
    /// rebuilds. [`Supervisor::attempted`] marks the attempt finished.
    pub(super) fn first_attempt_done(&self, index: usize) -> bool {
        let slot = self.slot(index);
        if slot.first_done.load(Ordering::SeqCst) {
            return false;
        }
        let last = {
            let mut pass = lock(&self.first_pass);
            // Slots of the start-up config all count before the pass
            // completes; a later slot never does.
            if pass.complete || slot.first_done.swap(true, Ordering::SeqCst) {
                return false;
            }
            pass.remaining = pass.remaining.saturating_sub(1);
            pass.remaining == 0
        };
        if !last {
            return true;
        }
        // Build the first catalog before anyone waiting may proceed, so the
        // first answers see every backend of the first pass.
        // Whatever happens in it, the first pass completes: requests wait for it.
        let fatal = match panic::catch_unwind(AssertUnwindSafe(|| self.try_rebuild())) {
            Ok(outcome) => outcome.err().map(|e| e.to_string()),
            Err(_) => {
                error!(target: LOG_TARGET, "building the first catalog panicked");
                None
            }
        };
        {
            let mut pass = lock(&self.first_pass);
            pass.complete = true;
            if let Some(e) = &fatal {
                error!(target: LOG_TARGET, "{e}");
                pass.fatal = Some(e.clone());
            }
        }
        self.first_pass_done.notify_all();
        // A backend that changed while the first catalog was being built
        // skipped its own rebuild; catch it up.
        if fatal.is_none() {
            self.rebuild();
        }
        let (total, connected) = self.counts();
        info!(target: LOG_TARGET, "first pass complete: {connected} of {total} backend(s) connected");
        self.runtime.events().record(
            "status",
            Severity::Info,
            None,
            format!("running: {connected} of {total} backend(s) connected"),
            None,
        );
        true
    }

    /// Marks backend `index`'s first attempt finished (after its catalog
    /// rebuild, if it connected), waking a reload that waits for it.
    pub(super) fn attempted(&self, index: usize) {
        if !self.slot(index).first_done.swap(true, Ordering::SeqCst) {
            let _pass = lock(&self.first_pass);
            self.first_pass_done.notify_all();
        }
    }

    /// Waits until every slot in `indices` finished its first attempt, at
    /// most `timeout` (telling of slow ones as [`Supervisor::wait_first_pass`]
    /// does); returns whether they all did.
    pub(super) fn wait_attempted(&self, indices: &[usize], timeout: Duration) -> bool {
        self.wait_noting_slow(timeout, indices, |_| {
            indices
                .iter()
                .all(|&i| self.slot(i).first_done.load(Ordering::SeqCst))
        })
    }
}

/// What the life loop does once a link has gone away.
enum AfterLink {
    /// End the life: stopped, retired or shutting down.
    Stop,
    /// Start again at once with a fresh count: it ran well.
    Restart,
    /// Count a failed attempt, with this message.
    Failed(String),
}

/// Takes a link that ended out of the slot, `cause` as its last error, and
/// marks the slot `Retrying`; returns whether the slot was stopped instead
/// (its life ends).
fn unlink(slot: &Slot, cause: &str) -> bool {
    let mut s = lock(&slot.state);
    s.link = None;
    s.discovered = None;
    s.last_error = Some(cause.to_owned());
    let ended = s.status == BackendStatus::Stopped;
    if !ended {
        s.enter(BackendStatus::Retrying, Some(cause.to_owned()));
    }
    ended
}

/// Records failed attempt number `failures` in the slot: `Failed` when
/// `exhausted`, else `Retrying` (a stopped slot stays so), with `message`
/// as its last error.
fn record_failure(slot: &Slot, failures: u32, exhausted: bool, message: &str) {
    let mut s = lock(&slot.state);
    if s.status != BackendStatus::Stopped {
        let next = if exhausted {
            BackendStatus::Failed
        } else {
            BackendStatus::Retrying
        };
        s.enter(next, Some(message.to_owned()));
    }
    s.last_error = Some(message.to_owned());
    s.attempts = failures;
}

/// Launchers that fetch the server they run on first use (and say
/// nothing on stdout meanwhile).
pub(super) const DOWNLOADERS: [&str; 7] =
    ["npx", "uvx", "bunx", "pnpx", "pipx", "docker", "podman"];

/// What a backend still on its first attempt is waiting for, after
/// "still starting after 5s: ".
pub(super) fn still_starting(backend: &Backend) -> String {
    let init = backend.timeouts.init.as_secs_f64();
    match &backend.kind {
        BackendKind::Stdio(launch) => {
            let program = launch.command.rsplit('/').next().unwrap_or_default();
            let hint = if DOWNLOADERS.contains(&program) {
                "a first run may be downloading it; "
            } else {
                ""
            };
            format!(
                "\"{}\" has not answered yet ({hint}initialize times out after {init}s)",
                launch.command
            )
        }
        BackendKind::Sse { url, .. } | BackendKind::StreamableHttp { url, .. } => format!(
            "{} has not answered yet (initialize times out after {init}s)",
            redact::url(url)
        ),
    }
}

/// Takes a slot out of service: status `Stopped` (its thread ends at its
/// next look), an attempt in progress closed, and its live link returned
/// for the caller to stop.
pub(super) fn halt(slot: &Slot, cause: &str) -> Option<Arc<Link>> {
    let (link, starting) = {
        let mut s = lock(&slot.state);
        s.enter(BackendStatus::Stopped, Some(cause.to_owned()));
        (s.link.take(), s.connecting.take().and_then(|c| c.upgrade()))
    };
    slot.wake.notify_all();
    // A backend still in its handshake (a stdio `init` may be 60 s):
    // closing its connection ends the wait, and the start stops it.
    if let Some(conn) = starting {
        conn.close(cause);
    }
    link
}

/// Stops links in parallel (each in stages, up to a few seconds) and
/// waits for all of them. Their requests in flight hear `Closed`.
/// How often a connected backend's lists are fetched again unasked: a
/// 2026-07-28 backend without list-change notifications whose caching
/// hints let clients keep its lists for a while (at least a second); none
/// for the rest, whose lists change only when they say so.
pub(super) fn refresh_interval(link: &Link) -> Option<Duration> {
    let ttl = link.discovered.cache.ttl_ms.filter(|t| *t > 0)?;
    (link.conn.is_modern() && crate::backend::listen_params(&link.discovered).is_none())
        .then(|| Duration::from_millis(ttl).max(Duration::from_secs(1)))
}

pub(super) fn stop_all(links: Vec<Arc<Link>>) {
    let stoppers: Vec<JoinHandle<()>> = links
        .into_iter()
        .filter_map(|link| {
            // A stop may speak TLS (the DELETE of a Streamable HTTP session).
            spawn_named("argus-stop", BACKEND_STACK_BYTES, move || link.stop()).ok()
        })
        .collect();
    for t in stoppers {
        let _ = t.join();
    }
}
