//! # rtmpws-wasm
//!
//! The browser half of rtmpws, compiled to wasm32 and loaded by the `rtmpws` npm package
//! (`js/`). The Rust side owns everything protocol- and media-shaped, so the JS side is only
//! the ActionScript-style API, the WebSocket and Media Source Extensions:
//!
//! - [`connection`]: [`Connection`] wraps the protocol crate's `ClientSession`: WebSocket
//!   messages in, a batch of plain JS event objects out, and the bytes to send. Media of a
//!   playing stream is remuxed to fMP4 in the same call.
//! - [`player`]: [`Player`] is the remuxer on its own (FLV bytes or tags in, segments out).
//! - [`pipeline`]: one stream's remuxer and the segments it hands to the page; both of the
//!   above own pipelines.
//! - [`events`]: the JS event objects both of them make (data, media errors).
//! - [`convert`]: AMF values to and from natural JS values.
//! - [`status`] exports the status-code catalogue so JS never retypes it.
//!
//! Imports go one way only: `connection` and `player` use `pipeline`, `events`, `convert` and
//! `status`, and none of those uses them back.
//!
//! Nothing here panics on input from the network: every failure becomes an event.
#![forbid(unsafe_code)]

pub mod connection;
pub mod convert;
pub mod events;
pub mod pipeline;
pub mod player;
pub mod status;

pub use connection::Connection;
pub use player::Player;

/// Talc instead of the default dlmalloc: a smaller module and faster allocation for the
/// remuxer's many short-lived buffers.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
