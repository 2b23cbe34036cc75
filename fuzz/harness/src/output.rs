use bytes::Bytes;
use rtmpws_protocol::chunk::{ChunkDecoder, DecoderLimits};

/// Bytes of S0+S1+S2 (or C0+C1 plus C2): what a session sends before its chunk stream.
const HANDSHAKE: usize = 1 + 2 * 1536;

/// Reads what a session sends, as its peer would: the handshake, then a chunk stream that
/// must always decode (a session must never send bytes its own decoder rejects).
pub struct PeerView {
    skip: usize,
    decoder: ChunkDecoder,
    pub messages: usize,
}

impl PeerView {
    pub fn new() -> Self {
        PeerView {
            skip: HANDSHAKE,
            decoder: ChunkDecoder::new(DecoderLimits::default()),
            messages: 0,
        }
    }

    pub fn read(&mut self, segments: &mut Vec<Bytes>) {
        for segment in segments.drain(..) {
            let skip = self.skip.min(segment.len());
            self.skip -= skip;
            self.decoder.push(&segment[skip..]);
        }
        while let Some(_message) = self
            .decoder
            .next_message()
            .expect("a session's output is a valid chunk stream")
        {
            self.messages += 1;
        }
    }
}
