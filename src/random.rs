//! Unguessable identifiers from the operating system's CSPRNG.
//!
//! Reads `/dev/urandom` (Linux and the BSDs; never blocks after boot) so the
//! crate needs neither `unsafe` nor a random-number dependency.

use std::fs::File;
use std::io::{self, Read};
use std::sync::OnceLock;

/// `/dev/urandom`, opened once: a session id is then one `read`, not an `open`,
/// a `read` and a `close`.
fn urandom() -> io::Result<&'static File> {
    static FILE: OnceLock<File> = OnceLock::new();
    if let Some(file) = FILE.get() {
        return Ok(file);
    }
    let file = File::open("/dev/urandom")?;
    Ok(FILE.get_or_init(|| file))
}

/// Fills `raw` with random bytes.
fn fill(raw: &mut [u8]) -> io::Result<()> {
    let mut file = urandom()?;
    file.read_exact(raw)
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut raw = [0u8; N];
    fill(&mut raw)?;
    Ok(raw)
}

/// `bytes` random bytes as lowercase hex (`2 * bytes` characters).
pub fn hex_id(bytes: usize) -> io::Result<String> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut raw = vec![0u8; bytes];
    fill(&mut raw)?;
    let mut out = String::with_capacity(2 * bytes);
    for b in raw {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_hex_and_distinct() {
        let a = super::hex_id(16).unwrap();
        let b = super::hex_id(16).unwrap();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_ne!(a, b);
    }
}
