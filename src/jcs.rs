//! RFC 8785 JSON Canonicalization Scheme: one byte string per JSON value,
//! so that a hash of it names the value whatever whitespace, member order
//! or number spelling it came with. Object members sorted by their names
//! as UTF-16 code units; no whitespace; strings escaped as ECMAScript's
//! `JSON.stringify` does; numbers as ECMAScript's `Number.prototype.toString`
//! of the IEEE-754 double (RFC 8785 §3.2.2.3). Pure.

use serde_json::{Number, Value};

/// The canonical form of `value`.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => number(n, out),
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (name, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(name, out);
                out.push(':');
                write(item, out);
            }
            out.push('}');
        }
    }
}

fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// ECMAScript's `Number.prototype.toString` of the number as a double.
fn number(n: &Number, out: &mut String) {
    let x = n.as_f64().unwrap_or(0.0);
    if x == 0.0 {
        // -0 too.
        out.push('0');
        return;
    }
    if x.is_sign_negative() {
        out.push('-');
    }
    // The shortest digits that read back as `x` (ties to even, as
    // ECMAScript wants: serde_json's float printing, Ryū, does that, where
    // `format!("{:e}")` rounds a tie up), and where the decimal point goes:
    // the value is 0.digits × 10^n.
    let shortest = Value::from(x.abs()).to_string();
    let (mantissa, exp) = match shortest.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (shortest.as_str(), 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{int}{frac}");
    let significant = all.trim_start_matches('0');
    let n = int.len() as i32 + exp - (all.len() - significant.len()) as i32;
    let digits = significant.trim_end_matches('0');
    let k = digits.len() as i32;
    if k <= n && n <= 21 {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n > 0 { '+' } else { '-' });
        out.push_str(&(n - 1).abs().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn num(x: f64) -> String {
        canonical(&json!(x))
    }

    #[test]
    fn numbers_are_spelled_as_ecmascript_does() {
        for (x, text) in [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (1.0 / 3.0, "0.3333333333333333"),
            (4.35, "4.35"),
            (333333333.3333333, "333333333.3333333"),
            // A tie between two 17-digit spellings: the even one (RFC 8785
            // appendix B).
            (1424953923781206.2, "1424953923781206.2"),
            (2.9802322387695312e-8, "2.9802322387695312e-8"),
        ] {
            assert_eq!(num(x), text, "{x:e}");
        }
        assert_eq!(canonical(&json!(9007199254740993u64)), "9007199254740992");
    }

    #[test]
    fn members_sort_by_utf16_and_strings_escape_as_json_stringify() {
        let v = json!({"b": 1, "a": [1.0, "\u{20ac}", 1e21, 1e-7], "\u{e000}": 0, "\u{1f600}": 0});
        assert_eq!(
            canonical(&v),
            "{\"a\":[1,\"\u{20ac}\",1e+21,1e-7],\"b\":1,\"\u{1f600}\":0,\"\u{e000}\":0}"
        );
        assert_eq!(
            canonical(&json!("\u{1}\n\"\\\u{2028}")),
            "\"\\u0001\\n\\\"\\\\\u{2028}\""
        );
    }
}
