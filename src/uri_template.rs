//! RFC 6570 URI templates, reduced to what routing a resource URI needs (a URI
//! a template matches goes to that template's backend): literals, and
//! expressions that match one path segment (`{x}`) or anything (`{+x}`, `{#x}`,
//! `{?x}`, `{&x}`, `{/x}`, `{;x}`).
//!
//! Templates come from backends and URIs from clients, so matching must
//! stay cheap for any pair: it walks the template once, keeping the set of
//! URI positions reachable so far (no backtracking, which was exponential
//! for `{+a}{+b}{+c}…`): O(parts × URI length) plus the literal compares.
//! URIs longer than [`MAX_MATCHED_URI_BYTES`] match no template.

/// Longest URI matched against templates; longer ones match none.
pub const MAX_MATCHED_URI_BYTES: usize = 64 * 1024;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct UriTemplate(Vec<Part>);

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    /// One or more characters up to the next `/`, `?` or `#`.
    Segment,
    /// Any run of characters, empty included.
    Any,
}

impl UriTemplate {
    /// Parses `template`; an unclosed `{` is taken literally.
    pub fn new(template: &str) -> UriTemplate {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let Some(close) = rest[open..].find('}') else {
                parts.push(Part::Literal(rest[open..].to_owned()));
                rest = "";
                break;
            };
            let expr = &rest[open + 1..open + close];
            parts.push(match expr.chars().next() {
                Some('+' | '#' | '?' | '&' | '/' | ';') => Part::Any,
                _ => Part::Segment,
            });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        UriTemplate(parts)
    }

    /// Whether `uri` is an expansion of the template.
    pub fn matches(&self, uri: &str) -> bool {
        if uri.len() > MAX_MATCHED_URI_BYTES {
            return false;
        }
        let bytes = uri.as_bytes();
        let n = bytes.len();
        // reach[p]: the parts so far can match exactly uri[..p].
        let mut reach = vec![false; n + 1];
        reach[0] = true;
        let mut next = vec![false; n + 1];
        for part in &self.0 {
            next.iter_mut().for_each(|r| *r = false);
            match part {
                Part::Literal(l) => {
                    for p in (0..=n).filter(|&p| reach[p]) {
                        if bytes[p..].starts_with(l.as_bytes()) {
                            next[p + l.len()] = true;
                        }
                    }
                }
                Part::Any => {
                    if let Some(first) = reach.iter().position(|&r| r) {
                        next[first..].iter_mut().for_each(|r| *r = true);
                    }
                }
                Part::Segment => {
                    // From each reachable p: every end q in (p, next separator].
                    let mut open = false;
                    for q in 0..=n {
                        if q > 0 && open && uri.is_char_boundary(q) {
                            next[q] = true;
                        }
                        if q < n && matches!(bytes[q], b'/' | b'?' | b'#') {
                            open = false;
                        }
                        if reach[q] && q < n && !matches!(bytes[q], b'/' | b'?' | b'#') {
                            open = true;
                        }
                    }
                }
            }
            std::mem::swap(&mut reach, &mut next);
            if !reach.iter().any(|&r| r) {
                return false;
            }
        }
        reach[n]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let t = UriTemplate::new("repo://{owner}/{name}/files{+path}");
        assert!(t.matches("repo://me/proj/files/src/main.rs"));
        assert!(t.matches("repo://me/proj/files"));
        assert!(!t.matches("repo://me/files/x"));
        assert!(
            !t.matches("repo:///proj/files/x"),
            "a segment is never empty"
        );
        assert!(UriTemplate::new("a://{x}").matches("a://é"));
        assert!(!UriTemplate::new("a://{x}").matches("a://"));
        assert!(!UriTemplate::new("a://{x}").matches("a://b/c"));
        assert!(UriTemplate::new("a://x{?q}").matches("a://x?q=1"));
        assert!(UriTemplate::new("a://{x}.{y}").matches("a://b.c.d"));
        assert!(UriTemplate::new("lit{oops").matches("lit{oops"));
        assert!(UriTemplate::new("").matches(""));
        assert!(!UriTemplate::new("").matches("x"));
    }

    #[test]
    fn hostile_templates_stay_linear() {
        // Exponential for a backtracking matcher; one pass here.
        let t = UriTemplate::new(&"{+a}x".repeat(40));
        let uri = "x".repeat(39) + "y";
        assert!(!t.matches(&uri));
        let t = UriTemplate::new(&"{a}".repeat(40));
        assert!(!t.matches(&("a".repeat(MAX_MATCHED_URI_BYTES / 64) + "/")));
        assert!(!t.matches(&"a".repeat(MAX_MATCHED_URI_BYTES + 1)));
    }
}
