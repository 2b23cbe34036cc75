//! # rtmpws-media
//!
//! Sans-IO media formats for rtmpws: FLV files and tags (legacy and Enhanced RTMP), the codec
//! configuration records of the codecs Enhanced RTMP carries, and remuxing FLV audio/video tags
//! into fragmented MP4 for Media Source Extensions.
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
//! - [`hevc`]: `HEVCDecoderConfigurationRecord` (hvcC) and SPS.
//! - [`av1`]: `AV1CodecConfigurationRecord` (av1C), sequence header, temporal delimiters.
//! - [`vp9`]: `VPCodecConfigurationRecord` (vpcC), keyframe size.
//! - [`aac`]: `AudioSpecificConfig` (sample rate, channels, codec string).
//! - [`opus`]: the Opus ID header (`OpusHead` -> `dOps`), packet durations.
//! - [`flac`]: STREAMINFO (-> `dfLa`), frame block sizes.
//! - [`fmp4`]: the FLV -> fragmented MP4 remuxer feeding one MSE `SourceBuffer`.
#![forbid(unsafe_code)]

pub mod aac;
pub mod av1;
pub mod avc;
pub mod flac;
pub mod flv;
pub mod fmp4;
pub mod hevc;
pub mod opus;
mod reader;
pub mod tag;
pub mod vp9;

pub use fmp4::{RemuxConfig, RemuxError, RemuxOutput, Remuxer};
