//! Interest that sessions and listen streams share in a backend: resource
//! subscriptions, counted per backend and URI and resolved in the caller's
//! own view, and log levels, counted per backend over the sessions that
//! can see it (the tables are in `interest`). A backend that comes back
//! hears both again.

use super::*;

impl Router {
    /// Backend `index` came back after a restart: it hears the log level
    /// and the subscriptions that sessions able to see it set before it
    /// went down. Runs on its supervisor thread.
    pub fn backend_ready(&self, index: usize, conn: &Connection) {
        let catalog = self.supervisor.catalog();
        if let Some(level) = self.levels.applied(conn.name())
            && catalog.features.logging.contains(&index)
        {
            send_own(conn, method::LOGGING_SET_LEVEL, json!({"level": level}));
        }
        for uri in self.subscribers.uris_of(conn.name()) {
            send_own(conn, method::RESOURCES_SUBSCRIBE, json!({"uri": uri}));
        }
    }

    /// The backend that serves resource `uri` to `caller` in `view`
    /// (`None`: the whole gateway, `Some(group)`: that group's virtual
    /// server), if any: none when the policies deny it to the caller.
    pub fn resource_backend(
        &self,
        view: Option<&str>,
        caller: Option<&Identity>,
        uri: &str,
    ) -> Option<String> {
        let views = self.supervisor.views();
        let catalog = views.seen_by(view, caller)?;
        let source = catalog.resource_source(uri)?;
        let roles = caller.map_or(&[][..], |c| c.roles.as_slice());
        if let Some(p) = views.policies.as_deref()
            && !p.decide_uri(roles, uri, source).allowed()
        {
            return None;
        }
        Some(source.2.backend_name.clone())
    }

    /// The group of backend `backend`, as the config in force has it.
    pub fn group_of(&self, backend: &str) -> Option<String> {
        self.runtime
            .config()
            .backends
            .iter()
            .find(|b| b.name == backend)
            .map(|b| b.group.clone())
    }

    /// A 2026-07-28 listen stream's interest in resource `uri` of
    /// `backend`; the backend hears only the first subscribe of all
    /// sessions and streams. Runs on the thread that opened the stream,
    /// under no lock.
    pub fn listen_to(&self, backend: &str, uri: &str) {
        if self.subscribers.add(backend, uri) {
            self.tell_backend(backend, method::RESOURCES_SUBSCRIBE, uri);
        }
    }

    /// The end of a listen stream's interest in `uri` of `backend`; the
    /// backend hears the last unsubscribe. Runs on the stream's writer
    /// thread, under no lock.
    pub fn stop_listening_to(&self, backend: &str, uri: &str) {
        if self.subscribers.remove(backend, uri) {
            self.tell_backend(backend, method::RESOURCES_UNSUBSCRIBE, uri);
        }
    }

    /// The names of the backends of `view` (`None`: every backend), as
    /// the config in force has them.
    pub(super) fn backends_of(&self, view: Option<&str>) -> Vec<String> {
        self.runtime
            .config()
            .backends
            .iter()
            .filter(|b| view.is_none_or(|group| b.group == group))
            .map(|b| b.name.clone())
            .collect()
    }

    /// A session's log level moves from `old`, counted at `old_backends`,
    /// to `new`, counted at `new_backends`; each backend whose most
    /// verbose wanted level changed is set to it (if it logs and is up).
    pub(super) fn count_level(
        &self,
        old: Option<&str>,
        old_backends: &[String],
        new: Option<&str>,
        new_backends: &[String],
    ) {
        let mut changed = Vec::new();
        for backend in old_backends {
            let now = new_backends.contains(backend).then_some(new).flatten();
            if let Some(level) = self.levels.change(backend, old, now) {
                changed.push((backend.as_str(), level));
            }
        }
        for backend in new_backends.iter().filter(|b| !old_backends.contains(b)) {
            if let Some(level) = self.levels.change(backend, None, new) {
                changed.push((backend.as_str(), level));
            }
        }
        if changed.is_empty() {
            return;
        }
        let catalog = self.catalog();
        for &index in &catalog.features.logging {
            let Ok(link) = self.supervisor.link(index) else {
                continue;
            };
            if let Some((_, level)) = changed.iter().find(|(b, _)| *b == link.conn.name()) {
                debug!("[{}] log level: {level}", link.conn.name());
                send_own(
                    &link.conn,
                    method::LOGGING_SET_LEVEL,
                    json!({"level": level}),
                );
            }
        }
    }

    /// `resources/subscribe`: counted only for a resource of the session's
    /// virtual server, at the backend that serves it there. The backend
    /// hears only the first subscribe of all sessions and streams that see
    /// it; the rest is answered here.
    pub(super) fn subscribe(
        &self,
        session: &Session,
        caller: Caller<'_>,
        id: &RequestId,
        params: Option<Value>,
    ) -> Handled {
        let uri = match string_param(params.as_ref(), "uri") {
            Ok(u) => u,
            Err(e) => return Handled::Reply(Err(e)),
        };
        let catalog = self.catalog_of(session);
        let cx = caller.context;
        let Some(route) = self.resource_for(cx, &catalog, method::RESOURCES_SUBSCRIBE, &uri) else {
            // No backend of the session's view serves it: answered like a
            // URI nobody serves (`{}`, as MCP clients and the conformance
            // suite expect of a subscription), but counted nowhere and
            // told to no backend, so another view's backend never hears
            // of it and its updates never reach this session.
            return Handled::Reply(Ok(json!({})));
        };
        let previous = {
            let mut state = session.state();
            match state.subscriptions.get(&uri) {
                Some(backend) if *backend == route.backend_name => {
                    return Handled::Reply(Ok(json!({})));
                }
                Some(_) => {}
                None if state.subscriptions.len() >= MAX_SUBSCRIPTIONS_PER_SESSION => {
                    return Handled::Reply(Err(invalid(format!(
                        "too many subscriptions: a session may hold {MAX_SUBSCRIPTIONS_PER_SESSION}"
                    ))));
                }
                None => {}
            }
            state
                .subscriptions
                .insert(uri.clone(), route.backend_name.clone())
        };
        // Held through another backend (a reload moved the resource).
        if let Some(old) = previous {
            self.stop_listening_to(&old, &uri);
        }
        if !self.subscribers.add(&route.backend_name, &uri)
            // 2026-07-28 has no resources/subscribe: the interest is
            // recorded here, and that is all.
            || self
                .supervisor
                .link(route.backend)
                .is_ok_and(|l| l.conn.is_modern())
        {
            return Handled::Reply(Ok(json!({})));
        }
        let params = params.unwrap_or_default();
        self.forward(
            caller,
            id,
            method::RESOURCES_SUBSCRIBE,
            params,
            &route,
            &uri,
        )
    }

    /// `resources/unsubscribe`: releases what the session holds; the
    /// backend hears the last unsubscribe. A URI the session does not hold
    /// is answered `{}`.
    pub(super) fn unsubscribe(
        &self,
        session: &Session,
        caller: Caller<'_>,
        id: &RequestId,
        params: Option<Value>,
    ) -> Handled {
        let uri = match string_param(params.as_ref(), "uri") {
            Ok(u) => u,
            Err(e) => return Handled::Reply(Err(e)),
        };
        let Some(backend) = session.state().subscriptions.remove(&uri) else {
            return Handled::Reply(Ok(json!({})));
        };
        if !self.subscribers.remove(&backend, &uri) {
            return Handled::Reply(Ok(json!({})));
        }
        let catalog = self.catalog_of(session);
        match catalog.resource_route(&uri) {
            Some(route)
                if route.backend_name == backend
                    && self
                        .supervisor
                        .link(route.backend)
                        .is_ok_and(|l| !l.conn.is_modern()) =>
            {
                let route = route.clone();
                let params = params.unwrap_or_default();
                self.forward(
                    caller,
                    id,
                    method::RESOURCES_UNSUBSCRIBE,
                    params,
                    &route,
                    &uri,
                )
            }
            _ => {
                self.tell_backend(&backend, method::RESOURCES_UNSUBSCRIBE, &uri);
                Handled::Reply(Ok(json!({})))
            }
        }
    }

    /// Sends `backend` a `resources/(un)subscribe` of our own for `uri`
    /// (no client waits for the answer), if it is up.
    pub(super) fn tell_backend(&self, backend: &str, method_name: &str, uri: &str) {
        if let Some(link) = self
            .supervisor
            .links()
            .into_iter()
            .find(|l| l.conn.name() == backend)
        {
            send_own(&link.conn, method_name, json!({"uri": uri}));
        }
    }
}

/// Sends a request of the gateway's own (no client waits for it): the
/// answer is not needed, only that the backend hears it.
pub(super) fn send_own(conn: &Connection, method_name: &str, params: Value) {
    if conn.is_modern()
        && matches!(
            method_name,
            method::LOGGING_SET_LEVEL | method::RESOURCES_SUBSCRIBE | method::RESOURCES_UNSUBSCRIBE
        )
    {
        // Removed in 2026-07-28: the level goes with each request, and
        // resource interest stays with the gateway.
        return;
    }
    conn.send_request(
        method_name,
        Some(params),
        OWN_REQUEST_TIMEOUT,
        Box::new(|_| {}),
        None,
    );
}
