//! What each fuzz target checks. The libFuzzer targets in `fuzz/fuzz_targets/` are one-line
//! calls into the `run` functions here, so the same properties run on stable in the corpus
//! replay test (`tests/replay.rs`) and in any crate's regression test.
//!
//! Every `run` must return normally for every input: a panic (including a failed property
//! assertion or an arithmetic overflow, since fuzz builds keep debug assertions) is a finding.
//! Inputs that start with control bytes (flags, piece size) read them with [`Input`].

pub mod aac_config;
pub mod amf0;
pub mod amf3;
pub mod avc_config;
pub mod chunk_decoder;
pub mod chunk_roundtrip;
pub mod client_session;
pub mod flv_reader;
pub mod handshake;
pub mod http_request;
pub mod remux;
pub mod server_session;
pub mod vod_index;

mod output;
mod same;
pub mod seeds;

pub use same::same_values;

/// A target's checks: must return normally for every input.
pub type Target = fn(&[u8]);

/// Every target by name: what the replay test and the seed generator iterate over.
pub const TARGETS: &[(&str, Target)] = &[
    ("chunk_decoder", chunk_decoder::run),
    ("chunk_roundtrip", chunk_roundtrip::run),
    ("amf0", amf0::run),
    ("amf3", amf3::run),
    ("handshake", handshake::run),
    ("server_session", server_session::run),
    ("client_session", client_session::run),
    ("flv_reader", flv_reader::run),
    ("avc_config", avc_config::run),
    ("aac_config", aac_config::run),
    ("remux", remux::run),
    ("vod_index", vod_index::run),
    ("http_request", http_request::run),
];

/// Control bytes taken from the front of a fuzz input; missing bytes read as 0, so every
/// input is usable and short inputs take the default paths.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    pub fn rest(self) -> &'a [u8] {
        self.data
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Cuts `data` into the pieces a socket might deliver: all at once for `split` 0, otherwise
/// pieces of `split` bytes, every third one a single byte (so headers split everywhere).
pub fn pieces(data: &[u8], split: u8) -> Vec<&[u8]> {
    if split == 0 || data.is_empty() {
        return vec![data];
    }
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0usize;
    while !rest.is_empty() {
        let len = if i % 3 == 2 { 1 } else { usize::from(split) };
        let (head, tail) = rest.split_at(len.min(rest.len()));
        out.push(head);
        rest = tail;
        i += 1;
    }
    out
}

/// A decode refused because references expanded past the output budget, which the decoders
/// size from the input's length: the same value can fit in a longer buffer and not in a
/// shorter one.
pub fn over_budget(e: &rtmpws_protocol::amf::AmfError) -> bool {
    matches!(
        e,
        rtmpws_protocol::amf::AmfError::Unsupported { what, .. } if what.contains("references expand")
    )
}
