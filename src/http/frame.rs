//! One frame of a streamed body as it goes on the wire, written with one
//! vectored `write`: a chunk (size line, the frame's parts, CRLF) on an
//! HTTP/1.1 body, the parts alone on a close-delimited one. Shared by the
//! stream's own writer ([`super::StreamWriter`]) and the writers of a
//! shared stream ([`super::SharedStream`]).

use std::io::{self, IoSlice, Write};
use std::net::TcpStream;

/// `Write::write_all` for several buffers (std's is unstable).
pub(crate) fn write_all_vectored(
    mut stream: &TcpStream,
    mut slices: &mut [IoSlice<'_>],
) -> io::Result<()> {
    while !slices.is_empty() {
        match stream.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One frame of a streamed body as it goes on the wire: a chunk (its size
/// line, the parts, CRLF) or, on a close-delimited body, the parts alone.
pub(crate) struct FrameSlices<'p> {
    parts: &'p [&'p [u8]],
    chunked: bool,
    /// The parts' bytes, together.
    len: usize,
    size: [u8; 20],
    size_len: usize,
}

impl<'p> FrameSlices<'p> {
    /// The frame of `parts` (at most four).
    pub(crate) fn new(parts: &'p [&'p [u8]], chunked: bool) -> FrameSlices<'p> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut size = [0u8; 20];
        let mut cursor = io::Cursor::new(&mut size[..]);
        // 16 hex digits and CRLF fit.
        let _ = write!(cursor, "{len:x}\r\n");
        let size_len = cursor.position() as usize;
        FrameSlices {
            parts,
            chunked,
            len,
            size,
            size_len,
        }
    }

    /// The body bytes of the frame (without chunk framing).
    pub(crate) fn body_len(&self) -> usize {
        self.len
    }

    /// The slices to write, and how many of the six are used.
    pub(crate) fn slices(&self) -> ([IoSlice<'_>; 6], usize) {
        let mut slices = [IoSlice::new(&[]); 6];
        let mut n = 0;
        if self.chunked {
            slices[n] = IoSlice::new(&self.size[..self.size_len]);
            n += 1;
        }
        for part in self.parts.iter().take(4) {
            slices[n] = IoSlice::new(part);
            n += 1;
        }
        if self.chunked {
            slices[n] = IoSlice::new(b"\r\n");
            n += 1;
        }
        (slices, n)
    }
}
