//! Strict standard Base64 (RFC 4648 §4, with padding), for the
//! `=?base64?...?=` form of MCP 2026-07-28 header values, and its URL-safe
//! form without padding (RFC 4648 §5, as JOSE uses it: RFC 7515 §2) for
//! JWTs and JWKs. Pure.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn value(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|a| *a == c).map(|p| p as u32)
}

/// Decodes canonical padded Base64; `None` for a bad length, character,
/// padding, or non-zero trailing bits.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, quad) in bytes.chunks(4).enumerate() {
        let last = i == bytes.len() / 4 - 1;
        let pad = quad.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n: u32 = 0;
        for &c in &quad[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        // Canonical: the bits padding leaves over are zero.
        if (pad == 1 && decoded[2] != 0) || (pad == 2 && decoded[1] != 0) {
            return None;
        }
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Some(out)
}

/// Decodes canonical unpadded base64url (RFC 7515 §2): `-` and `_`
/// instead of `+` and `/`, and no `=`; `None` for anything else, a bad
/// length, or non-zero trailing bits.
pub fn decode_url(text: &str) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    let mut standard = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        standard.push(match c {
            '-' => '+',
            '_' => '/',
            '+' | '/' | '=' => return None,
            other => other,
        });
    }
    while !standard.len().is_multiple_of(4) {
        standard.push('=');
    }
    decode(&standard)
}

/// Encodes as unpadded base64url (RFC 7515 §2).
pub fn encode_url(data: &[u8]) -> String {
    encode(data)
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            other => other,
        })
        .collect()
}

/// Encodes with padding.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4648_vectors_and_strictness() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("Hello, 世界", "SGVsbG8sIOS4lueVjA=="),
            (" padded ", "IHBhZGRlZCA="),
        ] {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded).as_deref(), Some(plain.as_bytes()), "{coded}");
        }
        for bad in [
            "SGVsbG8",
            "SGVs!!!bG8=",
            "Zg=",
            "Zh==",
            "Zm9=",
            "Z===",
            "Zg==Zg==",
            "Zm9v\n",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn base64url_is_unpadded_and_url_safe() {
        assert_eq!(decode_url("").as_deref(), Some(&b""[..]));
        assert_eq!(decode_url("Zg").as_deref(), Some(&b"f"[..]));
        assert_eq!(decode_url("Zm9vYmE").as_deref(), Some(&b"fooba"[..]));
        assert_eq!(decode_url("-_8").as_deref(), Some(&[0xfb, 0xff][..]));
        assert_eq!(encode_url(&[0xfb, 0xff]), "-_8");
        for bad in ["Zg==", "+/8", "Z", "Zh", "Zm9vY", "Zm 9v"] {
            assert_eq!(decode_url(bad), None, "{bad}");
        }
    }
}
