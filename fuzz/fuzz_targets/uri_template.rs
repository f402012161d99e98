//! URI template matching: never panics, and agrees with a simple
//! backtracking reference on small inputs (where its cost is bounded).
#![no_main]

use argus_mcp::uri_template::UriTemplate;
use libfuzzer_sys::fuzz_target;

/// The reference: the obvious recursive matcher over the same parts.
fn reference(template: &str, uri: &str) -> bool {
    fn go(t: &str, u: &str) -> bool {
        match t.find('{') {
            None => t == u,
            Some(open) => {
                let Some(close) = t[open..].find('}') else {
                    return t == u;
                };
                let (lit, expr, rest) = (
                    &t[..open],
                    &t[open + 1..open + close],
                    &t[open + close + 1..],
                );
                let Some(u) = u.strip_prefix(lit) else {
                    return false;
                };
                let any = matches!(expr.chars().next(), Some('+' | '#' | '?' | '&' | '/' | ';'));
                let limit = if any {
                    u.len()
                } else {
                    u.find(['/', '?', '#']).unwrap_or(u.len())
                };
                let min = usize::from(!any);
                (min..=limit)
                    .filter(|&i| u.is_char_boundary(i))
                    .any(|i| go(rest, &u[i..]))
            }
        }
    }
    go(template, uri)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (template, uri) = text.split_once('\n').unwrap_or((text, ""));
    let t = UriTemplate::new(template);
    let got = t.matches(uri);
    if template.len() <= 24 && uri.len() <= 24 && template.matches('{').count() <= 4 {
        assert_eq!(got, reference(template, uri), "{template:?} vs {uri:?}");
    }
});
