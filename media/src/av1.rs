//! AV1 in FLV and MP4: the `AV1CodecConfigurationRecord` (av1C, AV1-ISOBMFF 2.3) an Enhanced
//! RTMP `av01` sequence start carries, the sequence header OBU inside it (AV1 5.5) for the
//! picture size, and temporal delimiters, which MP4 samples must not contain.

use thiserror::Error;

use crate::reader::{BitError, BitReader, ByteReader};

/// Why an av1C record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Av1Error {
    #[error("AV1 codec configuration record is {0} bytes, shorter than its 4-byte header")]
    Truncated(usize),
    #[error("AV1 codec configuration record starts with {0:#04x}; marker 1 and version 1 (0x81) expected")]
    BadMarker(u8),
}

/// A parsed `AV1CodecConfigurationRecord`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Av1Config {
    pub seq_profile: u8,
    pub seq_level_idx_0: u8,
    /// seq_tier_0: false Main, true High.
    pub high_tier: bool,
    /// 8, 10 or 12.
    pub bit_depth: u8,
    pub monochrome: bool,
    pub chroma_subsampling_x: bool,
    pub chroma_subsampling_y: bool,
    pub chroma_sample_position: u8,
    /// The sequence header's max_frame_width/height, when the record's configOBUs carry one
    /// that parses.
    pub max_width: Option<u32>,
    pub max_height: Option<u32>,
}

impl Av1Config {
    pub fn parse(record: &[u8]) -> Result<Self, Av1Error> {
        let [marker, b1, b2, _b3]: [u8; 4] = record
            .get(..4)
            .and_then(|h| h.try_into().ok())
            .ok_or(Av1Error::Truncated(record.len()))?;
        if marker != 0x81 {
            return Err(Av1Error::BadMarker(marker));
        }
        let high_bitdepth = b2 & 0x40 != 0;
        let twelve_bit = b2 & 0x20 != 0;
        let size = record.get(4..).and_then(sequence_header_size);
        Ok(Av1Config {
            seq_profile: b1 >> 5,
            seq_level_idx_0: b1 & 0x1f,
            high_tier: b2 & 0x80 != 0,
            bit_depth: match (high_bitdepth, twelve_bit) {
                (true, true) => 12,
                (true, false) => 10,
                _ => 8,
            },
            monochrome: b2 & 0x10 != 0,
            chroma_subsampling_x: b2 & 0x08 != 0,
            chroma_subsampling_y: b2 & 0x04 != 0,
            chroma_sample_position: b2 & 0x03,
            max_width: size.map(|s| s.0),
            max_height: size.map(|s| s.1),
        })
    }

    /// The codec string MSE wants (AV1-ISOBMFF Codecs Parameter String), e.g. `av01.0.04M.08`.
    pub fn codec_string(&self) -> String {
        format!(
            "av01.{}.{:02}{}.{:02}",
            self.seq_profile,
            self.seq_level_idx_0,
            if self.high_tier { 'H' } else { 'M' },
            self.bit_depth
        )
    }
}

/// One OBU in low-overhead format: its type, and where its payload lies in `data`.
fn next_obu(data: &[u8], pos: usize) -> Option<(u8, usize, usize)> {
    let mut r = ByteReader::new(data.get(pos..)?);
    let header = r.u8()?;
    let obu_type = (header >> 3) & 0x0f;
    if header & 0x04 != 0 {
        r.u8()?; // extension header
    }
    let size = if header & 0x02 != 0 {
        leb128(&mut r)?
    } else {
        (data.len() - pos - r.pos()) as u64
    };
    let start = pos + r.pos();
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    (end <= data.len()).then_some((obu_type, start, end))
}

fn leb128(r: &mut ByteReader<'_>) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..8 {
        let byte = r.u8()?;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// How many leading bytes of a temporal unit are temporal delimiter OBUs (type 2): MP4 samples
/// leave them out (AV1-ISOBMFF 2.4), so a remuxer slices them off without copying.
pub fn temporal_delimiter_len(data: &[u8]) -> usize {
    let mut pos = 0;
    while let Some((2, _, end)) = next_obu(data, pos) {
        pos = end;
    }
    pos
}

/// The max_frame_width/height of the first sequence header OBU (type 1) in `obus`.
pub fn sequence_header_size(obus: &[u8]) -> Option<(u32, u32)> {
    let mut pos = 0;
    while let Some((obu_type, start, end)) = next_obu(obus, pos) {
        if obu_type == 1 {
            return parse_sequence_header(obus.get(start..end)?).ok();
        }
        pos = end;
    }
    None
}

fn parse_sequence_header(data: &[u8]) -> Result<(u32, u32), BitError> {
    let mut r = BitReader::new(data);
    r.bits(3)?; // seq_profile
    r.bits(1)?; // still_picture
    let reduced = r.flag()?;
    if reduced {
        r.bits(5)?; // seq_level_idx[0]
    } else {
        let mut buffer_delay_length = 0;
        let mut decoder_model_info = false;
        if r.flag()? {
            // timing_info
            r.bits(32)?;
            r.bits(32)?;
            if r.flag()? {
                uvlc(&mut r)?;
            }
            decoder_model_info = r.flag()?;
            if decoder_model_info {
                buffer_delay_length = r.bits(5)? + 1;
                r.bits(32)?;
                r.bits(5)?;
                r.bits(5)?;
            }
        }
        let initial_display_delay = r.flag()?;
        let operating_points = r.bits(5)? + 1;
        for _ in 0..operating_points {
            r.bits(12)?; // operating_point_idc
            let level = r.bits(5)?;
            if level > 7 {
                r.bits(1)?; // seq_tier
            }
            if decoder_model_info && r.flag()? {
                r.bits(buffer_delay_length)?;
                r.bits(buffer_delay_length)?;
                r.bits(1)?;
            }
            if initial_display_delay && r.flag()? {
                r.bits(4)?;
            }
        }
    }
    let width_bits = r.bits(4)? + 1;
    let height_bits = r.bits(4)? + 1;
    let width = r.bits(width_bits)? + 1;
    let height = r.bits(height_bits)? + 1;
    Ok((width, height))
}

fn uvlc(r: &mut BitReader<'_>) -> Result<u32, BitError> {
    let mut zeros = 0;
    while !r.flag()? {
        zeros += 1;
        if zeros >= 32 {
            return Err(BitError::Overlong);
        }
    }
    Ok(r.bits(zeros)?.saturating_add((1u32 << zeros) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svt_av1_record() {
        // What ffmpeg/libsvtav1 writes for 320x240 8-bit 4:2:0 (av1C + sequence header OBU).
        let record = [
            0x81, 0x00, 0x0c, 0x00, 0x0a, 0x0b, 0x02, 0x00, 0x00, 0x05, 0x21, 0xe7, 0xfd, 0xe0,
            0x17, 0xc0, 0x02,
        ];
        let config = Av1Config::parse(&record).unwrap();
        assert_eq!(config.codec_string(), "av01.0.00M.08");
        assert_eq!(
            (config.max_width, config.max_height),
            (Some(320), Some(240))
        );
        assert!(config.chroma_subsampling_x && config.chroma_subsampling_y);
    }

    #[test]
    fn temporal_delimiters_and_bad_records() {
        assert_eq!(temporal_delimiter_len(&[0x12, 0x00, 0x0a, 0x01, 0x00]), 2);
        assert_eq!(temporal_delimiter_len(&[0x12, 0x00, 0x12, 0x00]), 4);
        assert_eq!(temporal_delimiter_len(&[0x32, 0x01, 0x00]), 0);
        assert_eq!(temporal_delimiter_len(&[0x12, 0x05]), 0);
        assert_eq!(temporal_delimiter_len(&[]), 0);
        assert_eq!(Av1Config::parse(&[0x81, 0]), Err(Av1Error::Truncated(2)));
        assert_eq!(Av1Config::parse(&[1, 0, 0, 0]), Err(Av1Error::BadMarker(1)));
        let no_obus = Av1Config::parse(&[0x81, 0x4d, 0x40, 0]).unwrap();
        assert_eq!(no_obus.codec_string(), "av01.2.13M.10");
        assert_eq!(no_obus.max_width, None);
        assert_eq!(
            sequence_header_size(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            None
        );
    }
}
