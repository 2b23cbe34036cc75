//! The part of a session both sides share: passing the handshake's bytes in and out, then
//! chunk decoding and encoding, protocol control messages, acknowledgements, and the outgoing
//! byte queue.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::amf::DecodeLimits;
#[cfg(feature = "server")]
use crate::chunk::SharedChunks;
use crate::chunk::{ChunkDecoder, ChunkEncoder, ChunkError, DecoderLimits, MessageHeader};
use crate::handshake::{Handshake, Progress};
use crate::message::{Envelope, Message, MessageError, UserControl};
use crate::types::{StreamId, Timestamp};

/// Why a connection cannot go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    #[error(transparent)]
    Handshake(#[from] crate::handshake::HandshakeError),
    #[error("chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    #[error("message: {0}")]
    Message(#[from] MessageError),
    /// More output waits for the peer than the session's budget allows: the peer asks for
    /// more (many commands at once, each answered) than it reads.
    #[error("{queued} bytes of output wait for the peer, over the {max}-byte limit")]
    OutputTooLarge { queued: usize, max: usize },
}

/// Outgoing bytes, kept as a list of segments so shared media bodies are never copied.
#[derive(Default)]
struct Output {
    /// Small writes (headers, control messages) accumulate here until a shared body follows.
    pending: BytesMut,
    segments: VecDeque<Bytes>,
    queued: usize,
}

impl Output {
    fn seal_pending(&mut self) {
        if !self.pending.is_empty() {
            self.segments.push_back(self.pending.split().freeze());
        }
    }
}

/// Chunk-level connection state for one peer.
pub(crate) struct Link {
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    out: Output,
    amf_limits: DecodeLimits,
    /// The peer's Window Acknowledgement Size: we acknowledge each time this many bytes arrive.
    peer_window: Option<u32>,
    acked: u64,
    /// Send commands and data in the AMF3 envelope (types 17/15), for objectEncoding-3 peers.
    pub amf3_envelope: bool,
}

impl Link {
    pub fn new(limits: DecoderLimits, amf_limits: DecodeLimits) -> Self {
        Link {
            decoder: ChunkDecoder::new(limits),
            encoder: ChunkEncoder::new(),
            out: Output::default(),
            amf_limits,
            peer_window: None,
            acked: 0,
            amf3_envelope: false,
        }
    }

    pub fn push_input(&mut self, bytes: &[u8]) {
        self.decoder.push(bytes);
    }

    /// The next message the session must act on. Set Chunk Size, Abort, Window Ack Size,
    /// acknowledgements and pings are handled here and not returned.
    pub fn next_message(&mut self) -> Result<Option<Envelope>, LinkError> {
        loop {
            self.acknowledge_if_due();
            let Some(raw) = self.decoder.next_message()? else {
                return Ok(None);
            };
            let header = raw.header;
            let message = Message::decode(header.type_id, raw.payload, self.amf_limits)?;
            match message {
                Message::SetChunkSize(_) | Message::Abort(_) | Message::Acknowledgement(_) => {}
                Message::WindowAckSize(size) => self.peer_window = Some(size.max(1)),
                Message::UserControl(UserControl::PingRequest(t)) => {
                    self.send(
                        StreamId::CONTROL,
                        Timestamp::ZERO,
                        &Message::UserControl(UserControl::PingResponse(t)),
                    );
                }
                message => {
                    return Ok(Some(Envelope {
                        stream_id: header.stream_id,
                        timestamp: header.timestamp,
                        message,
                    }))
                }
            }
        }
    }

    fn acknowledge_if_due(&mut self) {
        let Some(window) = self.peer_window else {
            return;
        };
        let received = self.decoder.bytes_received();
        if received - self.acked >= u64::from(window) {
            self.acked = received;
            // The sequence number is the cumulative byte count, modulo 2^32 (RTMP spec 5.4.3).
            self.send(
                StreamId::CONTROL,
                Timestamp::ZERO,
                &Message::Acknowledgement(received as u32),
            );
        }
    }

    /// Queues one message.
    pub fn send(&mut self, stream_id: StreamId, timestamp: Timestamp, message: &Message) {
        let header = MessageHeader {
            csid: message.default_csid(stream_id),
            timestamp,
            type_id: message.type_id(self.amf3_envelope),
            stream_id,
        };
        let payload = message.encode_payload(self.amf3_envelope);
        if let Err(e) = self
            .encoder
            .encode(&header, &payload, &mut self.out.pending)
        {
            // Only a payload over 16 MiB can fail; sessions never build one. Dropping it keeps
            // the chunk stream consistent.
            debug_assert!(false, "unencodable message: {e}");
            return;
        }
        self.out.queued += payload.len();
    }

    /// Queues an already encoded payload.
    #[cfg(feature = "server")]
    pub fn send_payload(
        &mut self,
        stream_id: StreamId,
        timestamp: Timestamp,
        csid: crate::types::ChunkStreamId,
        type_id: crate::types::MessageType,
        payload: &[u8],
    ) {
        let header = MessageHeader {
            csid,
            timestamp,
            type_id,
            stream_id,
        };
        if self
            .encoder
            .encode(&header, payload, &mut self.out.pending)
            .is_ok()
        {
            self.out.queued += payload.len();
        }
    }

    /// Queues a media message chunked once for every subscriber.
    #[cfg(feature = "server")]
    pub fn send_shared(
        &mut self,
        stream_id: StreamId,
        shared: &SharedChunks,
    ) -> Result<(), ChunkError> {
        if let Some(message) = self.encoder.shared_message(shared, stream_id)? {
            // The whole message is shared: nothing is written for this connection alone.
            self.out.seal_pending();
            self.out.queued += shared.body().len();
            self.out.segments.push_back(message.clone());
            return Ok(());
        }
        self.encoder
            .encode_shared_header(shared, stream_id, &mut self.out.pending)?;
        self.out.seal_pending();
        self.out.queued += shared.body().len();
        self.out.segments.push_back(shared.body().clone());
        Ok(())
    }

    /// Announces and applies a new outgoing chunk size.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.send(
            StreamId::CONTROL,
            Timestamp::ZERO,
            &Message::SetChunkSize(size),
        );
        self.encoder.set_chunk_size(size);
    }

    /// Feeds `bytes` to `handshake` and queues its response. True once the handshake is done;
    /// the bytes that came after it are then queued as the first chunk stream input, so the
    /// caller reads them with [`Link::next_message`] like any other.
    pub fn handshake_input(
        &mut self,
        handshake: &mut Handshake,
        bytes: &[u8],
    ) -> Result<bool, LinkError> {
        match handshake.handle_input(bytes)? {
            Progress::InProgress { response } => {
                self.send_raw(&response);
                Ok(false)
            }
            Progress::Done {
                response,
                remaining,
            } => {
                self.send_raw(&response);
                self.push_input(&remaining);
                Ok(true)
            }
        }
    }

    /// Queues raw bytes (handshake responses).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.out.pending.extend_from_slice(bytes);
        self.out.queued += bytes.len();
    }

    /// Moves every queued segment to `into`, in order.
    pub fn drain_output(&mut self, into: &mut Vec<Bytes>) {
        self.out.seal_pending();
        into.extend(self.out.segments.drain(..));
        self.out.queued = 0;
    }

    /// Bytes queued and not yet drained.
    #[cfg(feature = "server")]
    pub fn queued_bytes(&self) -> usize {
        self.out.queued
    }

    #[cfg(feature = "server")]
    pub fn chunk_size(&self) -> u32 {
        self.encoder.chunk_size()
    }
}
