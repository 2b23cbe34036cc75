//! The RTMP handshake (RTMP spec 5.2), delegated to `rml_rtmp`'s, which interoperates with
//! ffmpeg, OBS and Flash (simple and digest forms). Its random fill is the only entropy the
//! core uses; on wasm32 it comes from `getrandom`'s `js` backend.

use rml_rtmp::handshake::{Handshake as RmlHandshake, HandshakeProcessResult, PeerType};
use thiserror::Error;

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
    inner: RmlHandshake,
}

impl Handshake {
    /// The server side: waits for C0+C1.
    pub fn server() -> Self {
        Handshake {
            inner: RmlHandshake::new(PeerType::Server),
        }
    }

    /// The client side; returns the C0+C1 bytes to send first.
    pub fn client() -> Result<(Self, Vec<u8>), HandshakeError> {
        let mut inner = RmlHandshake::new(PeerType::Client);
        let c0c1 = inner
            .generate_outbound_p0_and_p1()
            .map_err(|e| HandshakeError(e.to_string()))?;
        Ok((Handshake { inner }, c0c1))
    }

    /// Feeds bytes from the peer.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<Progress, HandshakeError> {
        match self.inner.process_bytes(bytes) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_and_server_complete_with_split_input() {
        let (mut client, c0c1) = Handshake::client().unwrap();
        let mut server = Handshake::server();
        // Feed C0+C1 in two pieces, as a WebSocket may deliver them.
        let mut s_out = Vec::new();
        for part in c0c1.chunks(1000) {
            match server.handle_input(part).unwrap() {
                Progress::InProgress { response } => s_out.extend(response),
                Progress::Done { .. } => panic!("server done before C2"),
            }
        }
        let (c2, client_rest) = match client.handle_input(&s_out).unwrap() {
            Progress::Done {
                response,
                remaining,
            } => (response, remaining),
            Progress::InProgress { .. } => panic!("client should be done after S0+S1+S2"),
        };
        assert!(client_rest.is_empty());
        let mut c2_and_more = c2.clone();
        c2_and_more.extend_from_slice(b"chunks");
        match server.handle_input(&c2_and_more).unwrap() {
            Progress::Done { remaining, .. } => assert_eq!(remaining, b"chunks"),
            Progress::InProgress { .. } => panic!("server should be done after C2"),
        }
    }

    #[test]
    fn a_wrong_version_byte_is_an_error() {
        let mut server = Handshake::server();
        let mut bytes = vec![0x06];
        bytes.extend(std::iter::repeat_n(0u8, 1536));
        assert!(server.handle_input(&bytes).is_err());
    }
}
