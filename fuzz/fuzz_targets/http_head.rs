//! The request-head parser on any bytes: never panics, a complete head
//! never claims more bytes than it was given, and the answer does not
//! depend on how much of the rest of the stream has arrived.
#![no_main]

use argus_mcp::http::parse::{Status, parse_head};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_head(data) {
        Ok(Status::Complete(head, used)) => {
            assert!(used <= data.len());
            // The same head from exactly its own bytes.
            match parse_head(&data[..used]) {
                Ok(Status::Complete(again, n)) => assert_eq!((again, n), (head, used)),
                other => panic!("prefix parsed differently: {other:?}"),
            }
        }
        Ok(Status::Partial) => {
            // Every prefix of a partial head is partial too (or an error
            // that the longer input would also have hit... never complete).
            if let Some(cut) = data.len().checked_sub(1) {
                assert!(!matches!(
                    parse_head(&data[..cut]),
                    Ok(Status::Complete(..))
                ));
            }
        }
        Err(e) => assert!(matches!(e.status(), 400 | 414 | 431 | 505)),
    }
});
