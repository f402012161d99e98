//! Unguessable identifiers from the operating system's CSPRNG.
//!
//! Reads `/dev/urandom` (Linux and the BSDs; never blocks after boot) so the
//! crate needs neither `unsafe` nor a random-number dependency.

use std::fs::File;
use std::io::{self, Read};

/// `N` random bytes.
pub fn bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut raw = [0u8; N];
    File::open("/dev/urandom")?.read_exact(&mut raw)?;
    Ok(raw)
}

/// `bytes` random bytes as lowercase hex (`2 * bytes` characters).
pub fn hex_id(bytes: usize) -> io::Result<String> {
    let mut raw = vec![0u8; bytes];
    File::open("/dev/urandom")?.read_exact(&mut raw)?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
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
