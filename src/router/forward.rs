//! Forwarding one request to the backend that owns it: find the link,
//! build the [`Call`] that owns the request until its answer, send.

use super::call::{Call, boxed_log, boxed_progress, failure};
use super::*;

impl Router {
    /// Sends a request to the backend of `route`; the answer goes to `caller`.
    pub(super) fn forward(
        &self,
        caller: Caller<'_>,
        id: &RequestId,
        method_name: &str,
        params: Value,
        route: &Route,
        exposed: &str,
    ) -> Handled {
        let is_tool = method_name == method::TOOLS_CALL;
        let link = match self.supervisor.link(route.backend) {
            Ok(link) => link,
            Err(cause) => return Handled::Reply(failure(is_tool, &cause.to_string())),
        };
        let timeout = self.supervisor_timeout(route.backend);
        let client_token = params
            .get("_meta")
            .and_then(|m| m.get("progressToken"))
            .cloned();
        let cx = caller.context;
        let backend_id = link.conn.reserve_id();
        let call = Arc::new(Call::new(
            self.runtime.clone(),
            (Arc::downgrade(caller.reply), id.clone()),
            (&link.conn, backend_id),
            method_name,
            cx.transport().as_str(),
        ));
        let mut stamp = if link.conn.is_modern() {
            self.stamp_for(cx, &params, is_tool, exposed)
        } else {
            CallerStamp::default()
        };
        let trace = caller
            .span
            .take()
            .and_then(|server| traced::forwarded(server, method_name, route, exposed));
        stamp.traceparent = trace
            .as_ref()
            .and_then(|(_, client)| client.context())
            .map(|c| c.header());
        let progress = client_token.map(|token| call.progress_hook(token));
        // A 2026-07-28 request that asked for logs hears its backend's, on
        // its own stream, in order with its answer (never without asking).
        let modern_caller = cx.is_modern();
        let log = cx
            .log_level()
            .as_deref()
            .and_then(mcp::log_rank)
            .filter(|_| modern_caller)
            .map(|wanted| call.log_hook(wanted));
        // A 2026-07-28 backend may answer a 2025-era client's call with an
        // input-required result: the gateway asks the client and retries.
        let rounds =
            (link.conn.is_modern() && !modern_caller && rounds::METHODS.contains(&method_name))
                .then(|| rounds::Rounds {
                    conn: Arc::downgrade(&link.conn),
                    params: params.clone(),
                    stamp: stamp.clone(),
                    timeout,
                    progress: progress.clone(),
                    log: log.clone(),
                    capabilities: cx.capabilities(),
                    done: 0,
                });
        {
            let mut ending = lock(&call.ending);
            ending.audit = self.audit_start(cx, method_name, route, exposed);
            ending.rounds = rounds.map(|r| Box::new(r) as Box<dyn call::FollowUp>);
            ending.trace = trace;
        }
        if !caller.reply.track(id, &link.conn, backend_id) {
            // The same id arrived twice at once (the check in `dispatch` raced).
            match cx {
                CallContext::Session(session) => refuse_duplicate(session, id.clone()),
                CallContext::Request(_) => {
                    let why = format!("request id {id} is already in flight");
                    let error = Message::error(Some(id.clone()), code::INVALID_REQUEST, why);
                    caller.reply.answer(id, error);
                }
            }
            return Handled::Forwarded;
        }
        link.conn.send_request_as(
            backend_id,
            Outgoing {
                method: method_name.to_owned(),
                params: Some(params),
                timeout,
                reply: call.reply_fn(),
                progress: progress.map(boxed_progress),
                log: log.map(boxed_log),
                origin: Some(call),
                stamp,
            },
        );
        Handled::Forwarded
    }

    /// The audit record of a call that starts now, if the log is on.
    fn audit_start(
        &self,
        cx: CallContext<'_>,
        method_name: &str,
        route: &Route,
        exposed: &str,
    ) -> Option<audited::CallRecord> {
        self.runtime.audit().map(|log| {
            let group = self.supervisor.group(route.backend);
            let mut record = audited::CallRecord::start(
                log,
                cx,
                method_name,
                (exposed, &route.original),
                (&route.backend_name, &group),
            );
            // Which definition of the item the caller had been shown.
            let catalog = self.catalog_for(cx);
            let entry = match method_name {
                method::TOOLS_CALL => catalog.entry(Kind::Tool, exposed),
                method::PROMPTS_GET => catalog.entry(Kind::Prompt, exposed),
                method::RESOURCES_READ => catalog
                    .resource_source(exposed)
                    .and_then(|(kind, key, _)| catalog.entry(kind, key)),
                _ => None,
            };
            if let Some(entry) = entry {
                record.note("definition", Value::from(entry.definition.as_str()));
                // Which rule let the caller have it, under policies.
                if let Some(policies) = self.supervisor.views().policies.as_deref() {
                    let roles = cx.identity().map_or(&[][..], |i| i.roles.as_slice());
                    let decision = policies.decide_entry(roles, entry);
                    record.note("rule", decision.rule.to_json());
                }
            }
            record
        })
    }

    /// What the caller adds to a call for a 2026-07-28 backend: its
    /// capabilities (the backend may ask for input only within them) and
    /// log level (a 2025-era client's `logging/setLevel` holds for its
    /// session; a modern backend hears it per request), and the
    /// `Mcp-Param-*` headers of the tool's `x-mcp-header` arguments. The
    /// connection stamps them (`CallerStamp`).
    pub(super) fn stamp_for(
        &self,
        cx: CallContext<'_>,
        params: &Value,
        is_tool: bool,
        exposed: &str,
    ) -> CallerStamp {
        let mut stamp = CallerStamp {
            capabilities: Some(cx.capabilities()),
            log_level: cx.log_level(),
            headers: Vec::new(),
            traceparent: None,
        };
        if !is_tool {
            return stamp;
        }
        let catalog = self.catalog_for(cx);
        let Some(tool) = catalog.item(Kind::Tool, exposed) else {
            return stamp;
        };
        let arguments = params.get("arguments").filter(|a| a.is_object());
        stamp.headers = mcp::param_headers(tool, arguments)
            .filter_map(|(name, _, value)| {
                let value = match value {
                    Value::String(s) => crate::backend::encode_header_value(s),
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                Some((name, value))
            })
            .collect();
        stamp
    }
}
