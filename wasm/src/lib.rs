//! # rtmpws-wasm
//!
//! The browser half of rtmpws, compiled to wasm32 and loaded by the `rtmpws` npm package
//! (`js/`). The Rust side owns everything protocol- and media-shaped, so the JS side is only
//! the ActionScript-style API, the WebSocket and Media Source Extensions:
//!
//! - [`Connection`] wraps the protocol crate's `ClientSession`: WebSocket messages in, a batch
//!   of plain JS event objects out (AMF mapped to natural JS values by [`convert`]), and the
//!   bytes to send. Media of a playing stream is remuxed to fMP4 in the same call.
//! - [`Player`] is the remuxer on its own (FLV bytes or tags in, segments out).
//! - [`status`] exports the status-code catalogue so JS never retypes it.
//!
//! Nothing here panics on input from the network: every failure becomes an event.
#![forbid(unsafe_code)]

pub mod connection;
pub mod convert;
pub mod player;
pub mod status;

pub use connection::Connection;
pub use player::Player;

/// Talc instead of the default dlmalloc: a smaller module and faster allocation for the
/// remuxer's many short-lived buffers.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
