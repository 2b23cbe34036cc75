//! # rtmpws-protocol
//!
//! The RTMP core that the rtmpws gateway (tokio) and browser client (wasm32) share. It does no
//! I/O and reads no clock: bytes and time go in, events and bytes come out.
//!
//! Layout, bottom up:
//! - [`types`]: newtypes for ids and timestamps.
//! - [`amf`]: AMF0/AMF3 values and bounded codecs.
//! - [`chunk`]: the chunk stream decoder and encoder.
//! - [`message`]: RTMP messages (control, user control, commands, data, media) to and from
//!   chunk payloads.
//! - [`shared_object`]: remote shared object messages (types 19 and 16).
//! - [`command`]: the names of the commands the sessions understand, parsed once.
//! - [`enhanced`]: Enhanced RTMP connect negotiation (`fourCcList`, `capsEx`, ...).
//! - [`status`]: the catalogue of NetStream/NetConnection status codes.
//! - [`handshake`]: the RTMP handshake (server side `rml_rtmp`'s, client side the simple form).
//! - `server` (feature `server`, on by default) and [`client`]: the session state machines.
#![forbid(unsafe_code)]

pub mod amf;
pub mod chunk;
pub mod client;
pub mod command;
pub mod enhanced;
pub mod handshake;
mod link;
pub mod message;
#[cfg(feature = "server")]
pub mod server;
pub mod shared_object;
pub mod status;
pub mod types;

pub use command::CommandName;
pub use link::LinkError;
pub use types::{ChunkStreamId, MediaKind, MessageType, StreamId, Timestamp};
