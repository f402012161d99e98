//! The SSE parser (WHATWG algorithm): never panics, respects its event
//! size limit, and yields the same events whatever the chunking.
#![no_main]

use argus_mcp::sse::Parser;
use libfuzzer_sys::fuzz_target;

const MAX_EVENT: usize = 1024;

fn events(pieces: &[&[u8]]) -> Result<Vec<(String, String, String)>, ()> {
    let mut parser = Parser::new(MAX_EVENT);
    let mut out = Vec::new();
    for piece in pieces {
        parser.feed(piece, &mut out).map_err(|_| ())?;
    }
    Ok(out
        .into_iter()
        .map(|e| {
            assert!(e.data.len() <= MAX_EVENT);
            (e.event, e.data, e.id)
        })
        .collect())
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let whole = events(&[data]);
    let at = usize::from(split).min(data.len());
    let parts = events(&[&data[..at], &data[at..]]);
    if let (Ok(a), Ok(b)) = (&whole, &parts) {
        assert_eq!(a, b);
    }
    // Byte by byte, too.
    let bytes: Vec<&[u8]> = data.chunks(1).collect();
    if let (Ok(a), Ok(c)) = (&whole, &events(&bytes)) {
        assert_eq!(a, c);
    }
});
