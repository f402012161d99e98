//! A remote backend's `auth`: how the gateway authenticates to it, with
//! fixed headers (`static`) or an OAuth 2 client-credentials grant
//! (`oauth2`). Interactive logins (`pkce`) are refused with a reason. How
//! the client's own credentials are checked is `access`, not here.

use std::time::Duration;

use super::{Cx, Fields};
use crate::config::yaml::{Node, YamlValue};
use crate::config::{Auth, OAuth2, Secret};

/// A remote backend's `auth`, if any; `None` when absent or a problem (reported).
pub(super) fn auth(cx: &mut Cx<'_>, f: &mut Fields<'_>) -> Option<Auth> {
    let node = f.get("auth")?;
    let path = f.child("auth");
    let mut a = cx.fields(node, &path)?;
    let type_node = a.get("type");
    let type_pos = type_node.map_or(node.pos, |n| n.pos);
    let kind = match type_node {
        Some(n) => cx.string(n, &a.child("type")),
        None => {
            cx.err(
                &path,
                node.pos,
                "missing required field \"type\" (static or oauth2)",
            );
            None
        }
    };
    let result = match kind.as_deref().map(str::trim) {
        Some("static") => match a.get("headers") {
            Some(n) => {
                let headers = cx.headers(n, &a.child("headers"));
                if headers.is_empty() && matches!(n.value, YamlValue::Map(_)) {
                    cx.err(&a.child("headers"), n.pos, "needs at least one header");
                }
                Some(Auth::Static(headers))
            }
            None => {
                cx.err(
                    &path,
                    node.pos,
                    "static auth needs \"headers\" with at least one header",
                );
                None
            }
        },
        Some("oauth2") => oauth2(cx, &mut a, node),
        Some("pkce") => {
            cx.err(
                &a.child("type"),
                type_pos,
                "auth type \"pkce\" is not supported by argus-mcp (interactive browser login); \
                 use oauth2 client credentials or static headers",
            );
            a.used.iter_mut().for_each(|u| *u = true);
            None
        }
        Some(other) => {
            cx.err(
                &a.child("type"),
                type_pos,
                format!("unknown auth type \"{other}\" (expected static or oauth2)"),
            );
            a.used.iter_mut().for_each(|u| *u = true);
            None
        }
        None => {
            a.used.iter_mut().for_each(|u| *u = true);
            None
        }
    };
    a.finish(cx, &[]);
    result
}

/// `type: oauth2`: the client-credentials grant's keys, all required but
/// `scopes`, `token_expiry_buffer_seconds` and `auth_retry_on_401`.
fn oauth2(cx: &mut Cx<'_>, a: &mut Fields<'_>, node: &Node) -> Option<Auth> {
    let mut required = |cx: &mut Cx<'_>, key: &'static str| match a.get(key) {
        Some(n) => cx.nonempty(n, &a.child(key)),
        None => {
            cx.err(&a.path, node.pos, format!("oauth2 auth needs \"{key}\""));
            None
        }
    };
    let token_url = required(cx, "token_url");
    let client_id = required(cx, "client_id");
    let client_secret = required(cx, "client_secret");
    if let (Some(url), Some(n)) = (
        &token_url,
        a.entries.iter().find(|(k, _)| k.name == "token_url"),
    ) && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        cx.err(
            &a.child("token_url"),
            n.1.pos,
            format!("URL \"{url}\" must start with http:// or https://"),
        );
    }
    let scopes = a
        .get("scopes")
        .map_or_else(Vec::new, |n| cx.string_list(n, &a.child("scopes")));
    let expiry_buffer = a
        .get("token_expiry_buffer_seconds")
        .map_or(Some(Duration::from_secs(300)), |n| {
            cx.seconds(n, &a.child("token_expiry_buffer_seconds"), 0.0, 86_400.0)
        });
    let retry_on_401 = a
        .get("auth_retry_on_401")
        .map_or(Some(true), |n| cx.boolean(n, &a.child("auth_retry_on_401")));
    Some(Auth::OAuth2(OAuth2 {
        token_url: token_url?,
        client_id: client_id?,
        client_secret: Secret(client_secret?),
        scopes,
        expiry_buffer: expiry_buffer?,
        retry_on_401: retry_on_401?,
    }))
}
