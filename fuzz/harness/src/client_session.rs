//! A [`ClientSession`] (the browser client's protocol core) fed arbitrary server bytes,
//! following the usual script: connect, createStream, then play or publish.
//!
//! Input: a flags byte, a piece-size byte, then the server's bytes.
//! - flags bit 0 clear: a valid S0+S1+S2 goes first; set: the bytes are raw.
//! - bit 1: AMF3 connect (objectEncoding 3); bit 2: publish instead of play;
//!   bit 3: connect only once the handshake is done (otherwise it is deferred).
//!
//! Properties: no panic; what the client sends is a valid chunk stream.

use rtmpws_protocol::amf::Value;
use rtmpws_protocol::client::{ClientConfig, ClientEvent, ClientSession};
use rtmpws_protocol::types::{MediaKind, StreamId, Timestamp};

use crate::output::PeerView;
use crate::{pieces, Input};

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let split = input.byte();
    let mut session = ClientSession::new(ClientConfig::default());
    let mut peer = PeerView::new();
    let mut out = Vec::new();
    let connect = |session: &mut ClientSession| {
        let encoding = if flags & 2 != 0 { 3.0 } else { 0.0 };
        let object = Value::object([
            ("app", Value::from("live")),
            ("tcUrl", Value::from("rtmp://localhost/live")),
            ("objectEncoding", Value::Number(encoding)),
        ]);
        session.connect(object, Vec::new());
    };
    if flags & 8 == 0 {
        connect(&mut session);
    }
    if flags & 1 == 0 {
        let mut s0s1s2 = vec![3u8];
        s0s1s2.resize(1 + 2 * 1536, 0x5a);
        session.handle_input(&s0s1s2).expect("S0+S1+S2 is accepted");
        assert!(session.is_handshake_done());
    }
    let mut connected = flags & 8 == 0;
    for piece in pieces(input.rest(), split) {
        let result = session.handle_input(piece);
        if !connected && session.is_handshake_done() {
            connect(&mut session);
            connected = true;
        }
        while let Some(event) = session.poll_event() {
            react(&mut session, flags, event);
        }
        session.drain_output(&mut out);
        peer.read(&mut out);
        if result.is_err() {
            break;
        }
    }
}

fn react(session: &mut ClientSession, flags: u8, event: ClientEvent) {
    match event {
        ClientEvent::Connected { .. } => {
            session.create_stream();
        }
        ClientEvent::StreamCreated { stream_id, .. } if flags & 4 != 0 => {
            session.publish(stream_id, "cam", "live");
            session.send_media(
                stream_id,
                Timestamp(40),
                MediaKind::Video,
                vec![0x17, 1, 0, 0, 0].into(),
            );
        }
        ClientEvent::StreamCreated { stream_id, .. } => {
            session.set_buffer_length(stream_id, 1000);
            session.play(stream_id, "cam", -2.0, -1.0, true);
        }
        ClientEvent::Status { stream_id, .. } if stream_id != StreamId::CONTROL => {
            session.close_stream(stream_id);
        }
        _ => {}
    }
}
