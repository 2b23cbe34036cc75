//! FLAC in FLV and MP4: the STREAMINFO block (FLAC format 8.2) an Enhanced RTMP `fLaC`
//! sequence start carries, the `dfLa` box ("Encapsulation of FLAC in ISO Base Media File
//! Format" 3.3.2) it becomes, and block sizes from frame headers (FLAC format 9.1).

use thiserror::Error;

use crate::reader::ByteReader;

/// Size of a STREAMINFO block body.
pub const STREAMINFO_LEN: usize = 34;

/// Why a FLAC sequence header was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FlacError {
    #[error("FLAC sequence header is {0} bytes; a STREAMINFO block needs 34")]
    Truncated(usize),
    #[error("FLAC metadata starts with block type {0}; STREAMINFO (0) must come first")]
    NotStreamInfo(u8),
    #[error("FLAC STREAMINFO declares a sample rate of 0 Hz")]
    ZeroSampleRate,
}

/// A parsed STREAMINFO block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlacStreamInfo {
    pub min_block_size: u16,
    pub max_block_size: u16,
    pub sample_rate: u32,
    pub channels: u8,
    pub bits_per_sample: u8,
    pub total_samples: u64,
    /// The block body as it was, for `dfLa`.
    pub raw: [u8; STREAMINFO_LEN],
}

impl FlacStreamInfo {
    /// Accepts the bare 34-byte STREAMINFO (what FFmpeg writes into FLV), or the `fLaC`
    /// signature followed by metadata blocks with STREAMINFO first (what the Enhanced RTMP
    /// spec describes).
    pub fn parse(data: &[u8]) -> Result<Self, FlacError> {
        let body = match data.strip_prefix(b"fLaC") {
            Some(blocks) => {
                let mut r = ByteReader::new(blocks);
                let header = r.u8().ok_or(FlacError::Truncated(data.len()))?;
                if header & 0x7f != 0 {
                    return Err(FlacError::NotStreamInfo(header & 0x7f));
                }
                r.u24().ok_or(FlacError::Truncated(data.len()))?;
                r.bytes(STREAMINFO_LEN)
                    .ok_or(FlacError::Truncated(data.len()))?
            }
            None => data
                .get(..STREAMINFO_LEN)
                .ok_or(FlacError::Truncated(data.len()))?,
        };
        let raw: [u8; STREAMINFO_LEN] = body
            .try_into()
            .map_err(|_| FlacError::Truncated(data.len()))?;
        let sample_rate =
            (u32::from(raw[10]) << 12) | (u32::from(raw[11]) << 4) | (u32::from(raw[12]) >> 4);
        if sample_rate == 0 {
            return Err(FlacError::ZeroSampleRate);
        }
        let total_samples = (u64::from(raw[13] & 0x0f) << 32)
            | u64::from(u32::from_be_bytes([raw[14], raw[15], raw[16], raw[17]]));
        Ok(FlacStreamInfo {
            min_block_size: u16::from_be_bytes([raw[0], raw[1]]),
            max_block_size: u16::from_be_bytes([raw[2], raw[3]]),
            sample_rate,
            channels: ((raw[12] >> 1) & 0x07) + 1,
            bits_per_sample: (((raw[12] & 0x01) << 4) | (raw[13] >> 4)) + 1,
            total_samples,
            raw,
        })
    }

    /// The `dfLa` box payload: version 0, flags 0, the STREAMINFO block marked last.
    pub fn to_dfla(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + STREAMINFO_LEN);
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&[0x80, 0, 0, STREAMINFO_LEN as u8]);
        out.extend_from_slice(&self.raw);
        out
    }

    pub fn codec_string(&self) -> String {
        "flac".to_owned()
    }
}

/// The block size (samples per channel) a FLAC frame header declares, or `None` when `frame`
/// does not start with a valid header.
pub fn frame_block_size(frame: &[u8]) -> Option<u32> {
    let mut r = ByteReader::new(frame);
    let [s0, s1] = r.array()?;
    if s0 != 0xff || s1 & 0xfe != 0xf8 {
        return None;
    }
    let code = r.u8()? >> 4;
    r.u8()?; // channels, sample size
             // The frame or sample number, UTF-8 style: the leading ones say how many bytes follow.
    let lead = r.u8()?;
    let extra = match lead.leading_ones() {
        0 => 0,
        n @ 2..=7 => n - 1,
        _ => return None,
    };
    r.bytes(extra as usize)?;
    match code {
        1 => Some(192),
        2..=5 => Some(576 << (code - 2)),
        6 => r.u8().map(|v| u32::from(v) + 1),
        7 => r.u16().map(|v| u32::from(v) + 1),
        8..=15 => Some(256 << (code - 8)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streaminfo() -> [u8; 34] {
        // min/max block 4096, 44.1 kHz, 1 channel, 16 bits, 88200 samples.
        let mut raw = [0u8; 34];
        raw[..4].copy_from_slice(&[0x10, 0, 0x10, 0]);
        let rate = 44_100u32;
        raw[10] = (rate >> 12) as u8;
        raw[11] = (rate >> 4) as u8;
        // channels - 1 = 0 and the high bit of bps - 1 = 0 in the low nibble.
        raw[12] = ((rate & 0x0f) as u8) << 4;
        raw[13] = 0xf0; // bps-1 low 4 bits = 15
        raw[14..18].copy_from_slice(&88_200u32.to_be_bytes());
        raw
    }

    #[test]
    fn both_sequence_header_forms() {
        let raw = streaminfo();
        let info = FlacStreamInfo::parse(&raw).unwrap();
        assert_eq!(
            (info.sample_rate, info.channels, info.bits_per_sample),
            (44_100, 1, 16)
        );
        assert_eq!((info.max_block_size, info.total_samples), (4096, 88_200));
        let mut signed = b"fLaC\x80\x00\x00\x22".to_vec();
        signed.extend_from_slice(&raw);
        assert_eq!(FlacStreamInfo::parse(&signed).unwrap(), info);
        let dfla = info.to_dfla();
        assert_eq!(&dfla[..8], &[0, 0, 0, 0, 0x80, 0, 0, 34]);
        assert_eq!(&dfla[8..], &raw);

        assert_eq!(
            FlacStreamInfo::parse(&raw[..20]),
            Err(FlacError::Truncated(20))
        );
        assert_eq!(
            FlacStreamInfo::parse(b"fLaC\x04\x00\x00\x01\x00"),
            Err(FlacError::NotStreamInfo(4))
        );
        assert_eq!(
            FlacStreamInfo::parse(&[0; 34]),
            Err(FlacError::ZeroSampleRate)
        );
    }

    #[test]
    fn block_sizes() {
        assert_eq!(
            frame_block_size(&[0xff, 0xf8, 0xa9, 0x08, 0x00, 0x50]),
            Some(1024)
        );
        assert_eq!(
            frame_block_size(&[0xff, 0xf8, 0xc9, 0x08, 0x05]),
            Some(4096)
        );
        assert_eq!(frame_block_size(&[0xff, 0xf8, 0x19, 0x08, 0x00]), Some(192));
        assert_eq!(
            frame_block_size(&[0xff, 0xf8, 0x39, 0x08, 0x00]),
            Some(1152)
        );
        // Code 6 and 7: the size follows the two-byte UTF-8 frame number.
        assert_eq!(
            frame_block_size(&[0xff, 0xf9, 0x69, 0x08, 0xc2, 0x80, 99]),
            Some(100)
        );
        assert_eq!(
            frame_block_size(&[0xff, 0xf9, 0x79, 0x08, 0x01, 0x01, 0x00]),
            Some(257)
        );
        assert_eq!(
            frame_block_size(&[0xff, 0xf9, 0x79, 0x08, 0x01, 0x01]),
            None
        );
        assert_eq!(frame_block_size(&[0xff, 0xf8, 0x09, 0x08, 0x00]), None);
        assert_eq!(frame_block_size(&[0xff, 0xf8, 0xa9, 0x08, 0xff]), None);
        assert_eq!(frame_block_size(&[0x12, 0x34]), None);
    }
}
