//! The chunk encoder and decoder agree: messages built from the input, chunked by
//! [`ChunkEncoder`] (or as [`SharedChunks`]) at some chunk size, decode to the same messages.
//!
//! Input: a chunk-size selector and a piece-size byte, then message descriptions (a kind byte,
//! then whatever fields it asks for, then the payload).

use bytes::BytesMut;
use rtmpws_protocol::chunk::{
    ChunkDecoder, ChunkEncoder, DecoderLimits, MessageHeader, RawMessage, SharedChunks,
};
use rtmpws_protocol::types::{ChunkStreamId, MessageType, StreamId, Timestamp};

use crate::{pieces, Input};

const CHUNK_SIZES: [u32; 8] = [128, 1, 2, 7, 64, 129, 4096, 65536];
const CSIDS: [u32; 12] = [3, 4, 5, 6, 7, 8, 63, 64, 65, 319, 320, 65599];

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let selector = input.byte();
    let split = input.byte();
    let chunk_size = CHUNK_SIZES[usize::from(selector & 7)];
    let mut encoder = ChunkEncoder::new();
    let mut wire = BytesMut::new();
    let mut sent = Vec::new();
    if chunk_size != 128 {
        let header = MessageHeader {
            csid: ChunkStreamId::CONTROL,
            timestamp: Timestamp::ZERO,
            type_id: MessageType::SET_CHUNK_SIZE,
            stream_id: StreamId::CONTROL,
        };
        encoder
            .encode(&header, &chunk_size.to_be_bytes(), &mut wire)
            .unwrap();
        encoder.set_chunk_size(chunk_size);
    }
    let mut timestamp = 0u32;
    let mut previous: Option<MessageHeader> = None;
    while !input.is_empty() && sent.len() < 64 {
        let kind = input.byte();
        // Bits 0-1: timestamp change; 2-3: header fields; 4: shared; 5-7: payload length.
        timestamp = match kind & 3 {
            0 => timestamp,
            1 => timestamp.wrapping_add(u32::from(input.byte())),
            2 => input.u32(),
            _ => 0x00ff_ff00u32.wrapping_add(u32::from(input.byte())),
        };
        let header = match (previous, kind >> 2 & 3) {
            (Some(p), 0) => MessageHeader {
                timestamp: Timestamp(timestamp),
                ..p
            },
            (Some(p), 1) => MessageHeader {
                timestamp: Timestamp(timestamp),
                type_id: message_type(input.byte()),
                ..p
            },
            _ => MessageHeader {
                csid: ChunkStreamId(CSIDS[usize::from(input.byte()) % CSIDS.len()]),
                timestamp: Timestamp(timestamp),
                type_id: message_type(input.byte()),
                stream_id: StreamId(u32::from(input.byte() & 3)),
            },
        };
        let len = match kind >> 5 {
            0 => 0,
            1 => 1,
            2..=5 => usize::from(input.byte()),
            _ => usize::from(input.u16() % 1200),
        };
        let payload = input.take(len).to_vec();
        if kind & 0x10 != 0 {
            let shared = SharedChunks::new(
                header.csid,
                header.timestamp,
                header.type_id,
                &payload,
                encoder.chunk_size(),
            );
            match encoder.shared_message(&shared, header.stream_id).unwrap() {
                Some(whole) => wire.extend_from_slice(whole),
                None => {
                    encoder
                        .encode_shared_header(&shared, header.stream_id, &mut wire)
                        .unwrap();
                    wire.extend_from_slice(shared.body());
                }
            }
        } else {
            encoder.encode(&header, &payload, &mut wire).unwrap();
        }
        previous = Some(header);
        sent.push(RawMessage {
            header,
            payload: payload.into(),
        });
    }

    let mut decoder = ChunkDecoder::new(DecoderLimits::default());
    let mut received = Vec::new();
    for piece in pieces(&wire, split) {
        decoder.push(piece);
        while let Some(message) = decoder.next_message().expect("our own chunks decode") {
            if message.header.type_id != MessageType::SET_CHUNK_SIZE {
                received.push(message);
            }
        }
    }
    assert_eq!(decoder.chunk_size(), chunk_size);
    assert_eq!(sent.len(), received.len(), "message count");
    for (i, (s, r)) in sent.iter().zip(&received).enumerate() {
        assert_eq!(s, r, "message {i} of {}", sent.len());
    }
}

/// Any type but the two the decoder acts on itself (Set Chunk Size, Abort).
fn message_type(byte: u8) -> MessageType {
    match byte {
        1 | 2 => MessageType::VIDEO,
        b => MessageType(b),
    }
}
