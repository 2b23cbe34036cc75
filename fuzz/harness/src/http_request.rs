//! The gateway's HTTP request head parser (`server/src/request_head.rs`, compiled here as it
//! is: it depends only on httparse and thiserror) fed arbitrary bytes, whole and in pieces.
//!
//! Input: a piece-size byte, then the bytes. Properties: no panic; a head is found only
//! within `MAX_HEAD` bytes and never past the input; parsing a prefix never contradicts
//! parsing the whole (incomplete, then the same answer); a WebSocket key is reported only
//! for an upgrade.

#[allow(dead_code)]
#[path = "../../../server/src/request_head.rs"]
mod request_head;

use request_head::{parse_head, HeadError, MAX_HEAD};

use crate::Input;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let step = usize::from(input.byte()).max(1);
    let bytes = input.rest();
    let whole = parse_head(bytes);
    if let Ok(Some((request, len))) = &whole {
        assert!(*len <= bytes.len() && *len <= MAX_HEAD, "{len}");
        if request.websocket_key.is_some() {
            let head = String::from_utf8_lossy(&bytes[..*len]).to_ascii_lowercase();
            assert!(head.contains("upgrade"), "a key without an upgrade");
        }
    }
    // Growing the buffer as a socket would: every prefix is incomplete until the answer
    // the whole gives, which then stays.
    let mut end = 0;
    while end < bytes.len() {
        end = (end + step).min(bytes.len());
        match parse_head(&bytes[..end]) {
            Ok(None) => {}
            Ok(Some((_, len))) => {
                assert!(len <= end);
                assert!(matches!(&whole, Ok(Some((_, l))) if *l == len));
                return;
            }
            Err(HeadError::TooLarge) => {
                assert!(end >= MAX_HEAD);
                return;
            }
            Err(HeadError::Malformed(_)) => {
                assert!(whole.is_err());
                return;
            }
        }
    }
}
