//! Keeps secrets out of everything we print or send: log lines, error texts
//! that reach clients, a backend's `last_error`, and the plan that `check`
//! prints.
//!
//! A URL loses its user info (`https://***@host/`) and the values of query
//! parameters whose names look like credentials (`?token=***`). Free text
//! has each URL in it redacted that way. Command-line arguments lose the
//! values of options named like credentials (`--token=***`, `--api-key ***`)
//! and any URL they hold. Pure string functions; no IO.

use std::borrow::Cow;

/// Shown instead of a hidden value.
pub const HIDDEN: &str = "***";

/// Parts of parameter and option names that mark a credential.
const SECRET_NAMES: [&str; 10] = [
    "token", "key", "secret", "pass", "pwd", "auth", "sig", "cred", "session", "code",
];

fn secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|s| name.contains(s))
}

/// `url` without user info and with credential-like query values hidden.
pub fn url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let (before_fragment, fragment) = match rest.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (rest, None),
    };
    let (location, query) = match before_fragment.split_once('?') {
        Some((l, q)) => (l, Some(q)),
        None => (before_fragment, None),
    };
    let (authority, path) = match location.find('/') {
        Some(i) => location.split_at(i),
        None => (location, ""),
    };
    let mut out = String::with_capacity(url.len());
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push_str("://");
    }
    match authority.rsplit_once('@') {
        Some((_, host)) => {
            out.push_str(HIDDEN);
            out.push('@');
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    out.push_str(path);
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if secret_name(name) => format!("{name}={HIDDEN}"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// `text` with every `http://` or `https://` URL in it redacted by [`url`].
pub fn text(text: &str) -> Cow<'_, str> {
    if !text.contains("http://") && !text.contains("https://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = [rest.find("http://"), rest.find("https://")]
        .into_iter()
        .flatten()
        .min()
    {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .unwrap_or(tail.len());
        // Punctuation that ends a sentence or a clause is not the URL's.
        let end = tail[..end]
            .trim_end_matches([':', ',', ';', ')', ']', '.'])
            .len();
        out.push_str(&url(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Command-line arguments as they may be shown: values of credential-like
/// options hidden (`--token=x`, `--token x`, `API_KEY=x`), URLs redacted.
pub fn args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for arg in args {
        if hide_next {
            out.push(HIDDEN.to_owned());
            hide_next = false;
            continue;
        }
        let flag = arg.trim_start_matches('-');
        match flag.split_once('=') {
            Some((name, _)) if secret_name(name) => {
                let dashes = &arg[..arg.len() - flag.len()];
                out.push(format!("{dashes}{name}={HIDDEN}"));
            }
            None if arg.starts_with('-') && secret_name(flag) => {
                hide_next = true;
                out.push(arg.clone());
            }
            _ => out.push(text(arg).into_owned()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_credentials_and_keep_the_rest() {
        assert_eq!(
            url("https://u:p@h:1/sse?token=x&mode=a#f"),
            "https://***@h:1/sse?token=***&mode=a#f"
        );
        assert_eq!(url("http://h"), "http://h");
        assert_eq!(
            url("http://h/m?session_id=abc&api_key=k&x"),
            "http://h/m?session_id=***&api_key=***&x"
        );
        assert_eq!(
            url("http://h/a@b"),
            "http://h/a@b",
            "an @ in the path is not user info"
        );
    }

    #[test]
    fn urls_inside_text() {
        assert_eq!(
            text("GET https://u:pw@h/sse?key=1: connection refused"),
            "GET https://***@h/sse?key=***: connection refused"
        );
        assert_eq!(
            text("\"http://a?token=t\" and http://b"),
            "\"http://a?token=***\" and http://b"
        );
        assert!(matches!(text("no url here"), Cow::Borrowed(_)));
    }

    #[test]
    fn arguments_hide_credential_options() {
        let args: Vec<String> = [
            "--token=abc",
            "--api-key",
            "k1",
            "-v",
            "API_SECRET=z",
            "http://u:p@h/x",
            "plain",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            super::args(&args),
            [
                "--token=***",
                "--api-key",
                "***",
                "-v",
                "API_SECRET=***",
                "http://***@h/x",
                "plain"
            ]
        );
    }
}
