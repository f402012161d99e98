//! Requests about one resource or prompt argument: `resources/read` and
//! `completion/complete`, each forwarded to the backend that serves it in
//! the caller's view.

use super::*;

impl Router {
    /// `resources/read`: forwarded to the backend that serves the URI in
    /// the session's view (listed, or by template).
    pub(super) fn read(
        &self,
        caller: Caller<'_>,
        id: &RequestId,
        params: Option<Value>,
    ) -> Handled {
        let uri = match string_param(params.as_ref(), "uri") {
            Ok(u) => u,
            Err(e) => return Handled::Reply(Err(e)),
        };
        let catalog = self.catalog_for(caller.context);
        match self.resource_for(caller.context, &catalog, method::RESOURCES_READ, &uri) {
            Some(route) => {
                let params = params.unwrap_or_default();
                self.forward(caller, id, method::RESOURCES_READ, params, &route, &uri)
            }
            None => Handled::Reply(Err(resource_not_found(&uri))),
        }
    }

    /// `completion/complete`: to the backend of the prompt (by its
    /// original name) or of the resource template or URI it completes.
    pub(super) fn complete(
        &self,
        caller: Caller<'_>,
        id: &RequestId,
        params: Option<Value>,
    ) -> Handled {
        let name = method::COMPLETION_COMPLETE;
        let reply = |r| Handled::Reply(r);
        let p = params.as_ref();
        let reference = p.and_then(|p| p.get("ref"));
        let catalog = self.catalog_for(caller.context);
        let route = match reference
            .and_then(|r| r.get("type"))
            .and_then(Value::as_str)
        {
            Some("ref/prompt") => {
                let Some(n) = reference
                    .and_then(|r| r.get("name"))
                    .and_then(Value::as_str)
                else {
                    return reply(Err(invalid("ref/prompt needs a name")));
                };
                match catalog.route(Kind::Prompt, n) {
                    Some(r) => {
                        let mut params = params.clone().unwrap_or_default();
                        params["ref"]["name"] = Value::from(r.original.as_str());
                        return self.forward(caller, id, name, params, &r.clone(), n);
                    }
                    None => {
                        self.note_if_denied(caller.context, name, Kind::Prompt, n);
                        return reply(Err(invalid(format!("unknown prompt: \"{n}\""))));
                    }
                }
            }
            Some("ref/resource") => {
                let Some(uri) = reference.and_then(|r| r.get("uri")).and_then(Value::as_str) else {
                    return reply(Err(invalid("ref/resource needs a uri")));
                };
                catalog
                    .entries
                    .iter()
                    .find(|e| e.kind == Kind::Template && e.exposed == uri)
                    .map(|e| e.route.clone())
                    .or_else(|| self.resource_for(caller.context, &catalog, name, uri))
            }
            _ => {
                return reply(Err(invalid(
                    "completion/complete needs params.ref of type ref/prompt or ref/resource",
                )));
            }
        };
        let about = reference.map(Value::to_string).unwrap_or_default();
        match route {
            Some(route) => {
                self.forward(caller, id, name, params.unwrap_or_default(), &route, &about)
            }
            None => reply(Err(invalid("unknown completion reference"))),
        }
    }
}
