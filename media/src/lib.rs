//! # rtmpws-media
//!
//! Sans-IO media formats for rtmpws: FLV files and tags, AVC/AAC decoder configuration records,
//! and remuxing FLV audio/video tags into fragmented MP4 for Media Source Extensions.
//!
//! Nothing here does I/O or reads a clock, so the same code runs in the gateway (recording,
//! probing) and in the wasm32 browser client (playback). All input is treated as hostile:
//! parsers read through bounds-checked cursors, never size allocations from counts in the
//! input, and report what was wrong and where through typed errors instead of panicking.
//!
//! - [`flv`]: the FLV container (incremental reader, writer).
//! - [`tag`]: audio/video tag headers, legacy and enhanced (FourCC, multitrack, ModEx): codec,
//!   keyframe, sequence header, command, tracks. The one place those questions are answered.
//! - [`avc`]: `AVCDecoderConfigurationRecord` and SPS (picture size, codec string).
//! - [`aac`]: `AudioSpecificConfig` (sample rate, channels, codec string).
//! - [`fmp4`]: the FLV -> fragmented MP4 remuxer feeding one MSE `SourceBuffer`.
#![forbid(unsafe_code)]

pub mod aac;
pub mod avc;
pub mod flv;
pub mod fmp4;
mod reader;
pub mod tag;

pub use fmp4::{RemuxConfig, RemuxError, RemuxOutput, Remuxer};
