//! The chunked decoder: never panics, never exceeds its limit, and gives
//! the same outcome whether the bytes come at once or split in two.
#![no_main]

use argus_mcp::http::body::ChunkedDecoder;
use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 4096;

fn decode(pieces: &[&[u8]]) -> Result<(Vec<u8>, usize, bool), u16> {
    let mut decoder = ChunkedDecoder::new(LIMIT);
    let mut out = Vec::new();
    let mut used = 0;
    for piece in pieces {
        if decoder.is_done() {
            break;
        }
        used += decoder.feed(piece, &mut out).map_err(|e| e.status())?;
    }
    assert!(out.len() as u64 <= LIMIT);
    Ok((out, used, decoder.is_done()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let at = usize::from(split).min(data.len());
    let whole = decode(&[data]);
    let parts = decode(&[&data[..at], &data[at..]]);
    match (&whole, &parts) {
        (Ok((a, used_a, true)), Ok((b, used_b, true))) => {
            assert_eq!(a, b);
            assert_eq!(used_a, used_b);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        // Incomplete input: the split run may simply have stopped earlier.
        (Ok((_, _, false)), _) | (_, Ok((_, _, false))) => {}
        _ => panic!("outcomes differ: {whole:?} vs {parts:?}"),
    }
});
