//! The RTMP handshake (RTMP spec 5.2).
//!
//! The server side is `rml_rtmp`'s, which accepts both forms clients use: the digest form of
//! Flash Player 9+, ffmpeg and OBS, and the simple form of the spec. It sits behind the
//! `server` feature, with the SHA-256 and random-number crates it needs.
//!
//! The client side is the spec's simple form, written here: C1 carries no digest, C2 echoes
//! S1. Every server accepts it (rml_rtmp, nginx-rtmp, FMS, ffmpeg's listener), and it keeps
//! the browser client free of SHA-256 and a CSPRNG, about a seventh of its wasm.

use thiserror::Error;

/// Bytes of C1/S1/C2/S2.
const PACKET: usize = 1536;
/// The RTMP version in C0/S0.
const VERSION: u8 = 3;

/// The handshake failed; the connection must be closed.
#[derive(Debug, Error)]
#[error("RTMP handshake failed: {0}")]
pub struct HandshakeError(String);

/// What one call to [`Handshake::handle_input`] produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Send `response` and wait for more bytes.
    InProgress { response: Vec<u8> },
    /// Send `response`; `remaining` is the start of the chunk stream.
    Done {
        response: Vec<u8>,
        remaining: Vec<u8>,
    },
}

/// One side of a handshake.
pub struct Handshake {
    side: Side,
}

enum Side {
    #[cfg(feature = "server")]
    Server(Box<rml_rtmp::handshake::Handshake>),
    /// Collecting S0+S1+S2 (at most 1 + 2 × 1536 bytes are kept; the rest is chunk stream).
    Client { received: Vec<u8> },
}

impl Handshake {
    /// The server side: waits for C0+C1.
    #[cfg(feature = "server")]
    pub fn server() -> Self {
        use rml_rtmp::handshake::{Handshake as RmlHandshake, PeerType};
        Handshake {
            side: Side::Server(Box::new(RmlHandshake::new(PeerType::Server))),
        }
    }

    /// The client side; returns the C0+C1 bytes to send first. `seed` fills C1's random
    /// part: the spec asks for random bytes but no server checks them, and a sans-IO core
    /// takes its entropy from the caller like its time.
    pub fn client(seed: u64) -> (Self, Vec<u8>) {
        let mut c0c1 = Vec::with_capacity(1 + PACKET);
        c0c1.push(VERSION);
        // time (4 bytes) and zero (4 bytes): 0, as the spec allows for the first packet.
        c0c1.extend_from_slice(&[0; 8]);
        // xorshift64*: cheap filler, never zero-seeded (a zero state stays zero).
        let mut state = seed | 1;
        while c0c1.len() < 1 + PACKET {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let word = state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            let room = 1 + PACKET - c0c1.len();
            c0c1.extend_from_slice(&word[..room.min(8)]);
        }
        let side = Side::Client {
            received: Vec::new(),
        };
        (Handshake { side }, c0c1)
    }

    /// Feeds bytes from the peer.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<Progress, HandshakeError> {
        match &mut self.side {
            #[cfg(feature = "server")]
            Side::Server(inner) => server_input(inner, bytes),
            Side::Client { received } => client_input(received, bytes),
        }
    }
}

#[cfg(feature = "server")]
fn server_input(
    inner: &mut rml_rtmp::handshake::Handshake,
    bytes: &[u8],
) -> Result<Progress, HandshakeError> {
    use rml_rtmp::handshake::HandshakeProcessResult;
    match inner.process_bytes(bytes) {
        Ok(HandshakeProcessResult::InProgress { response_bytes }) => Ok(Progress::InProgress {
            response: response_bytes,
        }),
        Ok(HandshakeProcessResult::Completed {
            response_bytes,
            remaining_bytes,
        }) => Ok(Progress::Done {
            response: response_bytes,
            remaining: remaining_bytes,
        }),
        Err(e) => Err(HandshakeError(e.to_string())),
    }
}

/// The client waits for S0+S1+S2, then answers C2 = S1 (the spec's echo; servers that sent
/// a digest S1 accept the echo too, since C1 carried none). S2 is not checked: servers
/// differ in what they echo and a mismatch would only refuse a working server.
fn client_input(received: &mut Vec<u8>, bytes: &[u8]) -> Result<Progress, HandshakeError> {
    const ALL: usize = 1 + 2 * PACKET;
    let take = bytes.len().min(ALL - received.len());
    received.extend_from_slice(&bytes[..take]);
    if let Some(&version) = received.first().filter(|&&v| v != VERSION) {
        return Err(HandshakeError(format!(
            "the server answered RTMP version {version}, not {VERSION}"
        )));
    }
    if received.len() < ALL {
        return Ok(Progress::InProgress {
            response: Vec::new(),
        });
    }
    Ok(Progress::Done {
        response: received[1..1 + PACKET].to_vec(),
        remaining: bytes[take..].to_vec(),
    })
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;

    #[test]
    fn client_and_server_complete_with_split_input() {
        let (mut client, c0c1) = Handshake::client(7);
        assert_eq!(c0c1.len(), 1 + PACKET);
        let mut server = Handshake::server();
        // Feed C0+C1 in two pieces, as a WebSocket may deliver them.
        let mut s_out = Vec::new();
        for part in c0c1.chunks(1000) {
            match server.handle_input(part).unwrap() {
                Progress::InProgress { response } => s_out.extend(response),
                Progress::Done { .. } => panic!("server done before C2"),
            }
        }
        // S0+S1+S2 and the server's first chunk bytes, one byte at a time.
        s_out.extend_from_slice(b"xy");
        let mut done = None;
        for byte in s_out.chunks(1) {
            if let Progress::Done {
                response,
                remaining,
            } = client.handle_input(byte).unwrap()
            {
                done = Some((response, remaining));
                break;
            }
        }
        let (c2, _) = done.expect("client done after S0+S1+S2");
        assert_eq!(c2, s_out[1..1 + PACKET], "C2 echoes S1");
        let mut c2_and_more = c2.clone();
        c2_and_more.extend_from_slice(b"chunks");
        match server.handle_input(&c2_and_more).unwrap() {
            Progress::Done { remaining, .. } => assert_eq!(remaining, b"chunks"),
            Progress::InProgress { .. } => panic!("server should be done after C2"),
        }
    }

    #[test]
    fn the_client_passes_on_what_follows_s2() {
        let (mut client, _) = Handshake::client(1);
        let mut answer = vec![VERSION];
        answer.extend(std::iter::repeat_n(9u8, 2 * PACKET));
        answer.extend_from_slice(b"rest");
        match client.handle_input(&answer).unwrap() {
            Progress::Done {
                response,
                remaining,
            } => {
                assert_eq!(response, vec![9u8; PACKET]);
                assert_eq!(remaining, b"rest");
            }
            Progress::InProgress { .. } => panic!("all of S0+S1+S2 arrived"),
        }
    }

    #[test]
    fn seeds_vary_the_random_part_but_not_the_header() {
        let (_, a) = Handshake::client(1);
        let (_, b) = Handshake::client(2);
        assert_eq!(a[..9], [VERSION, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(a[..9], b[..9]);
        assert_ne!(a[9..], b[9..]);
    }

    #[test]
    fn a_wrong_version_byte_is_an_error() {
        let mut server = Handshake::server();
        let mut bytes = vec![0x06];
        bytes.extend(std::iter::repeat_n(0u8, 1536));
        assert!(server.handle_input(&bytes).is_err());
        let (mut client, _) = Handshake::client(1);
        assert!(client.handle_input(&[0x06]).is_err());
    }
}
