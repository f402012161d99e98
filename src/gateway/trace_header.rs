//! A caller's W3C trace context sent as HTTP headers (`traceparent`,
//! `tracestate`) rather than in the request's `_meta`: put into
//! `params._meta` when that names no parent of its own (the MCP
//! convention puts it there, and `_meta` wins over the transport's
//! context), so the router reads one place. Only while requests are
//! traced; otherwise a request goes on as it came.

use serde_json::{Map, Value};

use super::Gateway;
use crate::http::Request;
use crate::jsonrpc::Message;

/// Adopts `req`'s trace headers into the params of `message`, a request.
pub(super) fn adopt(gateway: &Gateway, req: &Request, message: &mut Message) {
    if let Message::Request { params, .. } = message {
        adopt_params(gateway, req, params);
    }
}

/// Adopts `req`'s trace headers into a request's `params`.
pub(super) fn adopt_params(gateway: &Gateway, req: &Request, params: &mut Option<Value>) {
    if !gateway.router.traces() {
        return;
    }
    let Some(traceparent) = req.header("traceparent") else {
        return;
    };
    let params = params.get_or_insert_with(|| Value::Object(Map::new()));
    let Some(params) = params.as_object_mut() else {
        return;
    };
    let meta = params
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    if meta.contains_key("traceparent") {
        return;
    }
    meta.insert("traceparent".into(), Value::from(traceparent));
    if let Some(state) = req.header("tracestate") {
        meta.entry("tracestate")
            .or_insert_with(|| Value::from(state));
    }
}
