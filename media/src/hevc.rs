//! H.265/HEVC decoder configuration: the `HEVCDecoderConfigurationRecord` (hvcC, ISO/IEC
//! 14496-15 8.3.3) an Enhanced RTMP `hvc1` sequence start carries, and the parts of the SPS
//! (H.265 7.3.2.2) that give the picture size.
//!
//! As with AVC, the record goes to the MP4 sample entry untouched; this parser validates it,
//! builds the MSE codec string (`hvc1.1.6.L93.B0`) and finds the picture size.

use thiserror::Error;

use crate::avc::unescape_rbsp;
use crate::reader::{BitError, BitReader, ByteReader};

/// Largest picture dimension accepted (HEVC level 6.2 allows 8192 x 4320).
const MAX_DIMENSION: u32 = 16384;

/// Why an hvcC record or HEVC SPS was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HevcError {
    #[error("HEVC decoder configuration record ends inside {what} at byte {offset}")]
    RecordTruncated { what: &'static str, offset: usize },
    #[error("HEVC decoder configuration record has version {0}, only version 1 exists")]
    BadVersion(u8),
    #[error(
        "HEVC decoder configuration record declares 3-byte NALU lengths; only 1, 2 or 4 are valid"
    )]
    BadNaluLengthSize,
    #[error("HEVC decoder configuration record contains no SPS")]
    NoSps,
    #[error("SPS ends inside {field}")]
    SpsTruncated { field: &'static str },
    #[error("SPS field {field} = {value} is outside 0..={max}")]
    SpsOutOfRange {
        field: &'static str,
        value: u32,
        max: u32,
    },
}

/// A parsed `HEVCDecoderConfigurationRecord`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcDecoderConfig {
    /// general_profile_space (0..=3).
    pub profile_space: u8,
    /// general_tier_flag: false Main tier, true High tier.
    pub high_tier: bool,
    /// general_profile_idc (1 Main, 2 Main 10, 3 Main Still Picture, 4 range extensions...).
    pub profile_idc: u8,
    pub profile_compatibility_flags: u32,
    pub constraint_indicator_flags: [u8; 6],
    /// general_level_idc: level * 30.
    pub level_idc: u8,
    /// 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format: u8,
    pub bit_depth_luma: u8,
    pub bit_depth_chroma: u8,
    /// Bytes in each NALU length prefix of the frames that follow (1, 2 or 4).
    pub nalu_length_size: u8,
    /// VPS, SPS and PPS NAL units (2-byte header included), in record order.
    pub vps: Vec<Vec<u8>>,
    pub sps: Vec<Vec<u8>>,
    pub pps: Vec<Vec<u8>>,
}

impl HevcDecoderConfig {
    pub fn parse(record: &[u8]) -> Result<Self, HevcError> {
        let mut r = ByteReader::new(record);
        let truncated = |what, r: &ByteReader<'_>| HevcError::RecordTruncated {
            what,
            offset: r.pos(),
        };
        let fixed: [u8; 23] = r.array().ok_or_else(|| truncated("the fixed header", &r))?;
        if fixed[0] != 1 {
            return Err(HevcError::BadVersion(fixed[0]));
        }
        let nalu_length_size = (fixed[21] & 0x03) + 1;
        if nalu_length_size == 3 {
            return Err(HevcError::BadNaluLengthSize);
        }
        let mut config = HevcDecoderConfig {
            profile_space: fixed[1] >> 6,
            high_tier: fixed[1] & 0x20 != 0,
            profile_idc: fixed[1] & 0x1f,
            profile_compatibility_flags: u32::from_be_bytes([
                fixed[2], fixed[3], fixed[4], fixed[5],
            ]),
            constraint_indicator_flags: [
                fixed[6], fixed[7], fixed[8], fixed[9], fixed[10], fixed[11],
            ],
            level_idc: fixed[12],
            chroma_format: fixed[16] & 0x03,
            bit_depth_luma: (fixed[17] & 0x07) + 8,
            bit_depth_chroma: (fixed[18] & 0x07) + 8,
            nalu_length_size,
            vps: Vec::new(),
            sps: Vec::new(),
            pps: Vec::new(),
        };
        let arrays = fixed[22];
        // No preallocation from the counts: the bytes that follow decide how many there are.
        for _ in 0..arrays {
            let nal_type = r
                .u8()
                .ok_or_else(|| truncated("an array's NAL unit type", &r))?
                & 0x3f;
            let count = r
                .u16()
                .ok_or_else(|| truncated("an array's NAL unit count", &r))?;
            for _ in 0..count {
                let len = r.u16().ok_or_else(|| truncated("a NAL unit length", &r))?;
                let nal = r
                    .bytes(usize::from(len))
                    .ok_or_else(|| truncated("a NAL unit", &r))?;
                match nal_type {
                    32 => config.vps.push(nal.to_vec()),
                    33 => config.sps.push(nal.to_vec()),
                    34 => config.pps.push(nal.to_vec()),
                    _ => {}
                }
            }
        }
        Ok(config)
    }

    /// The codec string MSE wants (ISO/IEC 14496-15 Annex E), e.g. `hvc1.1.6.L93.B0`.
    pub fn codec_string(&self) -> String {
        let space = match self.profile_space {
            1 => "A",
            2 => "B",
            3 => "C",
            _ => "",
        };
        let mut s = format!(
            "hvc1.{space}{}.{:X}.{}{}",
            self.profile_idc,
            self.profile_compatibility_flags.reverse_bits(),
            if self.high_tier { 'H' } else { 'L' },
            self.level_idc
        );
        let used = self
            .constraint_indicator_flags
            .iter()
            .rposition(|b| *b != 0)
            .map_or(0, |i| i + 1);
        for b in &self.constraint_indicator_flags[..used] {
            s.push_str(&format!(".{b:X}"));
        }
        s
    }

    /// The picture size from the first SPS.
    pub fn first_sps(&self) -> Result<HevcSpsInfo, HevcError> {
        parse_sps(self.sps.first().ok_or(HevcError::NoSps)?)
    }
}

/// What the SPS says about the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HevcSpsInfo {
    pub chroma_format_idc: u8,
    /// Displayed size: the coded size minus the conformance window.
    pub width: u32,
    pub height: u32,
}

fn map(field: &'static str) -> impl Fn(BitError) -> HevcError {
    move |_| HevcError::SpsTruncated { field }
}

/// Parses an SPS NAL unit (2-byte header included, emulation prevention bytes in place).
pub fn parse_sps(nal: &[u8]) -> Result<HevcSpsInfo, HevcError> {
    let payload = nal.get(2..).ok_or(HevcError::SpsTruncated {
        field: "the NAL header",
    })?;
    let rbsp = unescape_rbsp(payload);
    let mut r = BitReader::new(&rbsp);
    r.bits(4).map_err(map("sps_video_parameter_set_id"))?;
    let sub_layers = r.bits(3).map_err(map("sps_max_sub_layers_minus1"))?;
    r.bits(1).map_err(map("sps_temporal_id_nesting_flag"))?;
    // profile_tier_level(1, sps_max_sub_layers_minus1): 88 bits of general profile, 8 of level.
    skip(&mut r, 88 + 8, "general profile_tier_level")?;
    let mut present = [(false, false); 7];
    for p in present.iter_mut().take(sub_layers as usize) {
        p.0 = r.flag().map_err(map("sub_layer_profile_present_flag"))?;
        p.1 = r.flag().map_err(map("sub_layer_level_present_flag"))?;
    }
    if sub_layers > 0 {
        skip(&mut r, 2 * (8 - sub_layers), "reserved_zero_2bits")?;
    }
    for (profile, level) in present.iter().take(sub_layers as usize) {
        if *profile {
            skip(&mut r, 88, "sub_layer profile")?;
        }
        if *level {
            skip(&mut r, 8, "sub_layer_level_idc")?;
        }
    }
    ue_max(&mut r, "sps_seq_parameter_set_id", 15)?;
    let chroma_format_idc = ue_max(&mut r, "chroma_format_idc", 3)?;
    if chroma_format_idc == 3 {
        r.flag().map_err(map("separate_colour_plane_flag"))?;
    }
    let coded_width = ue_max(&mut r, "pic_width_in_luma_samples", MAX_DIMENSION)?;
    let coded_height = ue_max(&mut r, "pic_height_in_luma_samples", MAX_DIMENSION)?;
    let (mut width, mut height) = (coded_width, coded_height);
    if r.flag().map_err(map("conformance_window_flag"))? {
        let sub_width = if matches!(chroma_format_idc, 1 | 2) {
            2
        } else {
            1
        };
        let sub_height = if chroma_format_idc == 1 { 2 } else { 1 };
        let mut offset = |field| ue_max(&mut r, field, MAX_DIMENSION);
        let left = offset("conf_win_left_offset")?;
        let right = offset("conf_win_right_offset")?;
        let top = offset("conf_win_top_offset")?;
        let bottom = offset("conf_win_bottom_offset")?;
        width = width.saturating_sub(sub_width * (left + right));
        height = height.saturating_sub(sub_height * (top + bottom));
    }
    Ok(HevcSpsInfo {
        chroma_format_idc: chroma_format_idc as u8,
        width,
        height,
    })
}

fn skip(r: &mut BitReader<'_>, bits: u32, field: &'static str) -> Result<(), HevcError> {
    let mut left = bits;
    while left > 0 {
        let n = left.min(32);
        r.bits(n).map_err(map(field))?;
        left -= n;
    }
    Ok(())
}

fn ue_max(r: &mut BitReader<'_>, field: &'static str, max: u32) -> Result<u32, HevcError> {
    let value = r.ue().map_err(map(field))?;
    if value > max {
        return Err(HevcError::SpsOutOfRange { field, value, max });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_string_follows_annex_e() {
        let mut config = HevcDecoderConfig {
            profile_space: 0,
            high_tier: false,
            profile_idc: 1,
            profile_compatibility_flags: 0x6000_0000,
            constraint_indicator_flags: [0xb0, 0, 0, 0, 0, 0],
            level_idc: 93,
            chroma_format: 1,
            bit_depth_luma: 8,
            bit_depth_chroma: 8,
            nalu_length_size: 4,
            vps: vec![],
            sps: vec![],
            pps: vec![],
        };
        assert_eq!(config.codec_string(), "hvc1.1.6.L93.B0");
        config.profile_space = 1;
        config.high_tier = true;
        config.profile_idc = 2;
        config.profile_compatibility_flags = 0x2000_0000;
        config.constraint_indicator_flags = [0; 6];
        config.level_idc = 120;
        assert_eq!(config.codec_string(), "hvc1.A2.4.H120");
        assert_eq!(config.first_sps(), Err(HevcError::NoSps));
    }

    #[test]
    fn arrays_are_sorted_by_nal_type() {
        let mut record = vec![
            1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 60, 0xf0, 0, 0xfc,
        ];
        record.extend_from_slice(&[0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 4]);
        for (nal_type, nal) in [
            (32u8, &[0x40, 1, 2][..]),
            (33, &[0x42, 1]),
            (34, &[0x44, 1]),
            (39, &[0x4e, 1]),
        ] {
            record.extend_from_slice(&[0x80 | nal_type, 0, 1, 0, nal.len() as u8]);
            record.extend_from_slice(nal);
        }
        let config = HevcDecoderConfig::parse(&record).unwrap();
        assert_eq!(config.nalu_length_size, 4);
        assert_eq!(config.codec_string(), "hvc1.1.6.L60.90");
        assert_eq!(config.vps, [vec![0x40, 1, 2]]);
        assert_eq!(config.sps, [vec![0x42, 1]]);
        assert_eq!(config.pps, [vec![0x44, 1]]);
        // That SPS is far too short to hold a picture size.
        assert!(matches!(
            config.first_sps(),
            Err(HevcError::SpsTruncated { .. })
        ));
        // Counts that promise more than the bytes hold are errors, not allocations.
        let mut lying = record[..23].to_vec();
        lying.extend_from_slice(&[0xa1, 0xff, 0xff]);
        assert!(matches!(
            HevcDecoderConfig::parse(&lying),
            Err(HevcError::RecordTruncated { .. })
        ));
    }

    #[test]
    fn x265_record() {
        // ffmpeg/libx265's hvcC for 320x240 Main, cut after its VPS, SPS and PPS arrays.
        let hex = concat!(
            "0101600000009000000000003cf000fcfdf8f800000f03200001001840010c01ffff016000000300900000",
            "03000003003c959409210001002a42010101600000030090000003000003003ca00a080f16595952930b",
            "c05a02000003000200000300321022000100064401c073c189"
        );
        let record: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let config = HevcDecoderConfig::parse(&record).unwrap();
        assert_eq!(config.codec_string(), "hvc1.1.6.L60.90");
        let sps = config.first_sps().unwrap();
        assert_eq!(
            (sps.width, sps.height, sps.chroma_format_idc),
            (320, 240, 1)
        );
    }

    #[test]
    fn truncated_records_are_errors() {
        assert!(matches!(
            HevcDecoderConfig::parse(&[1, 2, 3]),
            Err(HevcError::RecordTruncated { .. })
        ));
        let mut record = vec![1u8; 23];
        record[21] = 0x02;
        assert_eq!(
            HevcDecoderConfig::parse(&record),
            Err(HevcError::BadNaluLengthSize)
        );
        record[21] = 0x03;
        record[22] = 1;
        assert!(HevcDecoderConfig::parse(&record).is_err());
        record[22] = 0;
        record[0] = 2;
        assert_eq!(
            HevcDecoderConfig::parse(&record),
            Err(HevcError::BadVersion(2))
        );
    }
}
