//! VP9 in FLV and MP4: the `VPCodecConfigurationRecord` (vpcC, "VP Codec ISO Media File Format
//! Binding") an Enhanced RTMP `vp09` sequence start carries, and the frame size from a
//! keyframe's uncompressed header (VP9 6.2), which the record does not carry.

use thiserror::Error;

use crate::reader::BitReader;

/// Why a vpcC record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Vp9Error {
    #[error("VP codec configuration record is {0} bytes, shorter than its 8 fixed bytes")]
    Truncated(usize),
}

/// A parsed `VPCodecConfigurationRecord`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vp9Config {
    pub profile: u8,
    /// Level * 10 (10 = level 1, 31 = level 3.1); 0 when the writer did not say.
    pub level: u8,
    pub bit_depth: u8,
    pub chroma_subsampling: u8,
    pub full_range: bool,
    pub colour_primaries: u8,
    pub transfer_characteristics: u8,
    pub matrix_coefficients: u8,
    /// The record as the `vpcC` box payload wants it: version 1, flags 0, then the fields.
    pub vpcc: Vec<u8>,
}

impl Vp9Config {
    /// Accepts the record with the vpcC full-box header (version 1 and 24-bit flags, as
    /// FFmpeg writes it into FLV) or without it.
    pub fn parse(record: &[u8]) -> Result<Self, Vp9Error> {
        let fields = match record {
            [1, 0, 0, 0, rest @ ..] if rest.len() >= 8 => rest,
            _ => record,
        };
        let f: [u8; 8] = fields
            .get(..8)
            .and_then(|f| f.try_into().ok())
            .ok_or(Vp9Error::Truncated(record.len()))?;
        let mut vpcc = vec![1, 0, 0, 0];
        vpcc.extend_from_slice(&f[..6]);
        // codecIntializationDataSize: always 0 for VP9.
        vpcc.extend_from_slice(&[0, 0]);
        Ok(Vp9Config {
            profile: f[0],
            level: f[1],
            bit_depth: f[2] >> 4,
            chroma_subsampling: (f[2] >> 1) & 0x07,
            full_range: f[2] & 0x01 != 0,
            colour_primaries: f[3],
            transfer_characteristics: f[4],
            matrix_coefficients: f[5],
            vpcc,
        })
    }

    /// The short codec string MSE wants, e.g. `vp09.00.10.08`. An unspecified level (0) is
    /// written as 10, the lowest defined one.
    pub fn codec_string(&self) -> String {
        let level = if self.level == 0 { 10 } else { self.level };
        format!(
            "vp09.{:02}.{:02}.{:02}",
            self.profile, level, self.bit_depth
        )
    }
}

/// The frame size from the uncompressed header of a VP9 keyframe (the first frame of a
/// superframe), or `None` if `frame` is not a keyframe or is malformed.
pub fn keyframe_size(frame: &[u8]) -> Option<(u32, u32)> {
    let mut r = BitReader::new(frame);
    if r.bits(2).ok()? != 2 {
        return None; // frame_marker
    }
    let low = r.bits(1).ok()?;
    let high = r.bits(1).ok()?;
    let profile = (high << 1) | low;
    if profile == 3 {
        r.bits(1).ok()?;
    }
    if r.flag().ok()? {
        return None; // show_existing_frame
    }
    if r.flag().ok()? {
        return None; // frame_type 1: not a keyframe
    }
    r.bits(2).ok()?; // show_frame, error_resilient_mode
    if r.bits(24).ok()? != 0x49_83_42 {
        return None;
    }
    if profile >= 2 {
        r.bits(1).ok()?; // ten_or_twelve_bit
    }
    let color_space = r.bits(3).ok()?;
    if color_space != 7 {
        r.bits(1).ok()?; // color_range
        if profile == 1 || profile == 3 {
            r.bits(3).ok()?;
        }
    } else if profile == 1 || profile == 3 {
        r.bits(1).ok()?;
    }
    let width = r.bits(16).ok()? + 1;
    let height = r.bits(16).ok()? + 1;
    Some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffmpeg_record_and_keyframe() {
        // FFmpeg's FLV vpcC for libvpx-vp9 8-bit 4:2:0, and the head of a 320x240 keyframe.
        let config = Vp9Config::parse(&[1, 0, 0, 0, 0, 20, 0x82, 2, 2, 2, 0, 0]).unwrap();
        assert_eq!(config.codec_string(), "vp09.00.20.08");
        assert_eq!(config.chroma_subsampling, 1);
        assert_eq!(config.vpcc, [1, 0, 0, 0, 0, 20, 0x82, 2, 2, 2, 0, 0]);
        let bare = Vp9Config::parse(&[2, 0, 0xa2, 1, 1, 1, 0, 0]).unwrap();
        assert_eq!(bare.codec_string(), "vp09.02.10.10");
        assert_eq!(Vp9Config::parse(&[1, 0, 0]), Err(Vp9Error::Truncated(3)));

        let key = [0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf6];
        assert_eq!(keyframe_size(&key), Some((320, 240)));
        assert_eq!(keyframe_size(&[0x86, 0x00, 0x40]), None);
        assert_eq!(keyframe_size(&[0x82, 0x49]), None);
        assert_eq!(keyframe_size(&[]), None);
    }
}
