//! A [`ServerSession`] fed arbitrary bytes, answering its requests the way the gateway does
//! (accept or reject connect, begin publish and play, echo published media to the player).
//!
//! Input: a flags byte, a piece-size byte, then the client's bytes.
//! - flags bit 0 clear: a valid handshake (the simple form) goes first, so the bytes are the
//!   chunk stream; set: the bytes are raw, handshake included.
//! - bit 1: tight limits; bit 2: reject connect; bit 3: plays are of recorded streams;
//!   bit 4: fail getStreamLength calls.
//!
//! Properties: no panic; after an error or a reject, later input is ignored without panic;
//! everything the session sends is a valid chunk stream.

use bytes::Bytes;
use rtmpws_protocol::amf::DecodeLimits;
use rtmpws_protocol::chunk::{DecoderLimits, SharedChunks};
use rtmpws_protocol::handshake::Handshake;
use rtmpws_protocol::server::{ServerConfig, ServerEvent, ServerSession};
use rtmpws_protocol::types::{ChunkStreamId, MediaKind, MessageType, StreamId, Timestamp};

use crate::output::PeerView;
use crate::{pieces, Input};

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let split = input.byte();
    let mut config = ServerConfig::default();
    if flags & 2 != 0 {
        config.chunk_limits = DecoderLimits {
            max_chunk_size: 512,
            max_message_size: 4096,
            max_chunk_streams: 4,
            max_reassembly_bytes: 8192,
        };
        config.amf_limits = DecodeLimits {
            max_depth: 4,
            max_input: 1024,
        };
        config.chunk_size = 128;
        config.max_streams = 2;
    }
    let mut session = ServerSession::new(config);
    let mut peer = PeerView::new();
    let mut out = Vec::new();
    if flags & 1 == 0 {
        let (_, c0c1) = Handshake::client(7);
        session.handle_input(&c0c1).expect("C0+C1 is accepted");
        session.drain_output(&mut out);
        let s0s1s2: Vec<u8> = out.concat();
        assert_eq!(s0s1s2.len(), 1 + 2 * 1536, "S0+S1+S2");
        session
            .handle_input(&s0s1s2[1..1 + 1536])
            .expect("C2 echoing S1 is accepted");
        peer.read(&mut out);
    }
    for piece in pieces(input.rest(), split) {
        let result = session.handle_input(piece);
        answer(&mut session, flags);
        session.drain_output(&mut out);
        peer.read(&mut out);
        if result.is_err() {
            break;
        }
    }
}

fn answer(session: &mut ServerSession, flags: u8) {
    while let Some(event) = session.poll_event() {
        match event {
            ServerEvent::ConnectRequested(_) if flags & 4 != 0 => session.reject_connect("no"),
            ServerEvent::ConnectRequested(request) => {
                assert!(!request.app.contains('/'), "app {:?}", request.app);
                session.accept_connect("fuzz");
            }
            ServerEvent::PublishRequested {
                stream_id, name, ..
            } => session.begin_publish(stream_id, &name),
            ServerEvent::PlayRequested { stream_id, request } => {
                session.begin_play(stream_id, &request.name, request.reset, flags & 8 != 0)
            }
            ServerEvent::StreamLengthRequested { transaction_id, .. } if flags & 16 != 0 => {
                session.fail_call(transaction_id, "no such stream")
            }
            ServerEvent::StreamLengthRequested { transaction_id, .. } => {
                session.answer_stream_length(transaction_id, 12.5)
            }
            ServerEvent::Media {
                stream_id,
                timestamp,
                kind,
                payload,
            } => echo(session, stream_id, timestamp, kind, payload),
            ServerEvent::Data {
                stream_id,
                timestamp,
                values,
            } => session.send_data(stream_id, timestamp, values),
            _ => {}
        }
    }
}

/// Sends published media back as a player on the same connection would get it: chunked once
/// for all subscribers, on the prebuilt stream and on the publisher's own stream id.
fn echo(
    session: &mut ServerSession,
    stream_id: StreamId,
    timestamp: Timestamp,
    kind: MediaKind,
    payload: Bytes,
) {
    let (csid, type_id) = match kind {
        MediaKind::Audio => (ChunkStreamId::AUDIO, MessageType::AUDIO),
        MediaKind::Video => (ChunkStreamId::VIDEO, MessageType::VIDEO),
    };
    let shared = SharedChunks::new(csid, timestamp, type_id, &payload, session.chunk_size());
    session
        .send_media(SharedChunks::PREBUILT_STREAM, &shared)
        .expect("shared chunks made with the session's chunk size");
    session
        .send_media(stream_id, &shared)
        .expect("shared chunks made with the session's chunk size");
}
