//! The handshake fed arbitrary bytes in arbitrary pieces: the server side (what every
//! connection to the gateway starts with), and the client side on the same bytes.
//!
//! Input: a piece-size byte, then the peer's bytes.

use rtmpws_protocol::handshake::{Handshake, Progress};

use crate::{pieces, Input};

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let split = input.byte();
    let bytes = input.rest();
    drive(Handshake::server(), bytes, split, 1 + 2 * 1536);
    let (client, c0c1) = Handshake::client(u64::from(split));
    assert_eq!(c0c1.len(), 1 + 1536);
    drive(client, bytes, split, 1536);
}

/// Feeds `bytes`; on completion, checks that all that followed the handshake is passed on.
fn drive(mut handshake: Handshake, bytes: &[u8], split: u8, max_response: usize) {
    let mut fed = 0usize;
    for piece in pieces(bytes, split) {
        fed += piece.len();
        match handshake.handle_input(piece) {
            Ok(Progress::InProgress { response }) => assert!(response.len() <= max_response),
            Ok(Progress::Done {
                response,
                remaining,
            }) => {
                assert!(response.len() <= max_response);
                assert!(remaining.len() <= piece.len());
                assert_eq!(remaining[..], piece[piece.len() - remaining.len()..]);
                assert!(fed - remaining.len() <= 1 + 2 * 1536);
                return;
            }
            Err(_) => return,
        }
    }
}
