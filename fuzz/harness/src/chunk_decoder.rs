//! The chunk stream decoder fed arbitrary bytes in arbitrary pieces.
//!
//! Input: a flags byte (bit 0: tight limits), a piece-size byte, then the stream.
//! Properties: no panic; messages respect the limits; errors are sticky; buffered memory
//! follows the bytes received, never the lengths headers announce.

use rtmpws_protocol::chunk::{ChunkDecoder, DecoderLimits};
use rtmpws_protocol::types::ChunkStreamId;

use crate::{pieces, Input};

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let split = input.byte();
    let limits = if flags & 1 == 1 {
        DecoderLimits {
            max_chunk_size: 300,
            max_message_size: 2000,
            max_chunk_streams: 3,
            // Below three whole messages, so the shared budget is what refuses.
            max_reassembly_bytes: 5000,
        }
    } else {
        DecoderLimits::default()
    };
    let mut decoder = ChunkDecoder::new(limits);
    let mut failed = None;
    for piece in pieces(input.rest(), split) {
        decoder.push(piece);
        loop {
            match decoder.next_message() {
                Ok(Some(message)) => {
                    let csid = message.header.csid.0;
                    assert!((2..=ChunkStreamId::MAX).contains(&csid), "csid {csid}");
                    assert!(message.payload.len() <= limits.max_message_size as usize);
                    let size = decoder.chunk_size();
                    assert!(
                        size >= 1 && size <= limits.max_chunk_size,
                        "chunk size {size}"
                    );
                }
                Ok(None) => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let received = decoder.bytes_received() as usize;
        let held = decoder.buffered_capacity();
        assert!(
            held <= 8 * received + 16 * 1024,
            "{held} bytes held after {received} received"
        );
        if let Some(e) = &failed {
            assert_eq!(decoder.next_message().as_ref(), Err(e), "errors are sticky");
            break;
        }
    }
}
