//! H.264/AVC decoder configuration: the `AVCDecoderConfigurationRecord` an FLV/RTMP sequence
//! header carries (ISO/IEC 14496-15 5.3.3) and the parts of the SPS (H.264 7.3.2.1.1) needed
//! for the picture size.
//!
//! The record bytes are passed to the browser untouched (as `avcC`); this parser exists to
//! validate them, to build the MSE codec string, and to learn the frame size for the `tkhd` and
//! the client's `videoWidth` before the decoder reports it.

use thiserror::Error;

use crate::reader::{BitError, BitReader, ByteReader};

/// Largest picture dimension accepted, in macroblocks (16 px). H.264's largest level allows
/// about 1055 MBs a side; anything far beyond is corrupt and would only produce absurd sizes.
const MAX_DIMENSION_MBS: u32 = 2048;

/// Why an AVC sequence header or SPS was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AvcError {
    #[error("AVC decoder configuration record ends inside {what} at byte {offset}")]
    RecordTruncated { what: &'static str, offset: usize },
    #[error("AVC decoder configuration record has version {0}, only version 1 exists")]
    BadVersion(u8),
    #[error(
        "AVC decoder configuration record declares {0}-byte NALU lengths; only 1, 2 or 4 are valid"
    )]
    BadNaluLengthSize(u8),
    #[error("AVC decoder configuration record contains no SPS")]
    NoSps,
    #[error("empty {what} in the AVC decoder configuration record at byte {offset}")]
    EmptyParameterSet { what: &'static str, offset: usize },
    #[error("NAL unit of type {nal_type} where an SPS (type 7) was expected")]
    NotAnSps { nal_type: u8 },
    #[error("SPS ends inside {field}")]
    SpsTruncated { field: &'static str },
    #[error("SPS field {field} has an exp-Golomb code longer than 32 bits")]
    SpsOverlong { field: &'static str },
    #[error("SPS field {field} = {value} is outside 0..={max}")]
    SpsOutOfRange {
        field: &'static str,
        value: u32,
        max: u32,
    },
    #[error(
        "SPS frame cropping ({crop_x} x {crop_y} px) removes the whole {width}x{height} picture"
    )]
    CropTooLarge {
        crop_x: u64,
        crop_y: u64,
        width: u64,
        height: u64,
    },
}

/// A parsed `AVCDecoderConfigurationRecord`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcDecoderConfig {
    /// AVCProfileIndication (66 baseline, 77 main, 100 high, ...).
    pub profile: u8,
    /// profile_compatibility: the SPS constraint_set flags.
    pub compatibility: u8,
    /// AVCLevelIndication, level * 10.
    pub level: u8,
    /// Bytes in each NALU length prefix of the frames that follow (1, 2 or 4).
    pub nalu_length_size: u8,
    /// SPS NAL units, header byte included.
    pub sps: Vec<Vec<u8>>,
    /// PPS NAL units, header byte included.
    pub pps: Vec<Vec<u8>>,
}

impl AvcDecoderConfig {
    /// Parses a record. Trailing bytes (the High-profile chroma/bit-depth extension, or
    /// padding) are ignored; they stay in the bytes handed to the browser.
    pub fn parse(record: &[u8]) -> Result<Self, AvcError> {
        let mut r = ByteReader::new(record);
        let truncated = |what, r: &ByteReader<'_>| AvcError::RecordTruncated {
            what,
            offset: r.pos(),
        };
        let [version, profile, compatibility, level, length_byte] =
            r.array().ok_or_else(|| truncated("the fixed header", &r))?;
        if version != 1 {
            return Err(AvcError::BadVersion(version));
        }
        let nalu_length_size = (length_byte & 0x03) + 1;
        if nalu_length_size == 3 {
            return Err(AvcError::BadNaluLengthSize(3));
        }
        let sps_count = r.u8().ok_or_else(|| truncated("the SPS count", &r))? & 0x1f;
        let sps = read_parameter_sets(&mut r, sps_count, "SPS")?;
        let pps_count = r.u8().ok_or_else(|| truncated("the PPS count", &r))?;
        let pps = read_parameter_sets(&mut r, pps_count, "PPS")?;
        Ok(AvcDecoderConfig {
            profile,
            compatibility,
            level,
            nalu_length_size,
            sps,
            pps,
        })
    }

    /// The RFC 6381 codec string MSE wants, e.g. `avc1.64001f`.
    pub fn codec_string(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile, self.compatibility, self.level
        )
    }

    /// Parses the first SPS, which decides the picture size.
    pub fn first_sps(&self) -> Result<SpsInfo, AvcError> {
        parse_sps(self.sps.first().ok_or(AvcError::NoSps)?)
    }
}

fn read_parameter_sets(
    r: &mut ByteReader<'_>,
    count: u8,
    what: &'static str,
) -> Result<Vec<Vec<u8>>, AvcError> {
    // No preallocation from the count: the bytes that follow decide how many there are.
    let mut sets = Vec::new();
    for _ in 0..count {
        let offset = r.pos();
        let len = r.u16().ok_or(AvcError::RecordTruncated {
            what: "a parameter set length",
            offset,
        })?;
        if len == 0 {
            return Err(AvcError::EmptyParameterSet { what, offset });
        }
        let nal = r.bytes(usize::from(len)).ok_or(AvcError::RecordTruncated {
            what: if what == "SPS" { "an SPS" } else { "a PPS" },
            offset: offset + 2,
        })?;
        sets.push(nal.to_vec());
    }
    Ok(sets)
}

/// What the SPS says about the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    pub profile_idc: u8,
    pub constraint_flags: u8,
    pub level_idc: u8,
    /// 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format_idc: u8,
    pub bit_depth_luma: u8,
    pub bit_depth_chroma: u8,
    /// False for interlaced/field coding, where each map unit is a field pair.
    pub frame_mbs_only: bool,
    /// Decoded size before cropping (whole macroblocks).
    pub coded_width: u32,
    pub coded_height: u32,
    /// Displayed size: coded size minus the frame cropping rectangle.
    pub width: u32,
    pub height: u32,
}

/// Parses an SPS NAL unit (header byte included, emulation prevention bytes still in place).
pub fn parse_sps(nal: &[u8]) -> Result<SpsInfo, AvcError> {
    let (&header, payload) = nal.split_first().ok_or(AvcError::SpsTruncated {
        field: "the NAL header",
    })?;
    let nal_type = header & 0x1f;
    if nal_type != 7 {
        return Err(AvcError::NotAnSps { nal_type });
    }
    let rbsp = unescape_rbsp(payload);
    let mut s = SpsReader {
        r: BitReader::new(&rbsp),
    };

    let profile_idc = s.u(8, "profile_idc")? as u8;
    let constraint_flags = s.u(8, "constraint_set flags")? as u8;
    let level_idc = s.u(8, "level_idc")? as u8;
    s.ue_max("seq_parameter_set_id", 31)?;

    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    let mut bit_depth_luma = 8;
    let mut bit_depth_chroma = 8;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = s.ue_max("chroma_format_idc", 3)?;
        if chroma_format_idc == 3 {
            separate_colour_plane = s.flag("separate_colour_plane_flag")?;
        }
        bit_depth_luma = 8 + s.ue_max("bit_depth_luma_minus8", 6)?;
        bit_depth_chroma = 8 + s.ue_max("bit_depth_chroma_minus8", 6)?;
        s.flag("qpprime_y_zero_transform_bypass_flag")?;
        if s.flag("seq_scaling_matrix_present_flag")? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if s.flag("seq_scaling_list_present_flag")? {
                    s.skip_scaling_list(if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }

    s.ue_max("log2_max_frame_num_minus4", 12)?;
    match s.ue_max("pic_order_cnt_type", 2)? {
        0 => {
            s.ue_max("log2_max_pic_order_cnt_lsb_minus4", 12)?;
        }
        1 => {
            s.flag("delta_pic_order_always_zero_flag")?;
            s.se("offset_for_non_ref_pic")?;
            s.se("offset_for_top_to_bottom_field")?;
            let cycle = s.ue_max("num_ref_frames_in_pic_order_cnt_cycle", 255)?;
            for _ in 0..cycle {
                s.se("offset_for_ref_frame")?;
            }
        }
        _ => {}
    }
    s.ue("max_num_ref_frames")?;
    s.flag("gaps_in_frame_num_value_allowed_flag")?;
    let width_mbs = s.ue_max("pic_width_in_mbs_minus1", MAX_DIMENSION_MBS - 1)? + 1;
    let height_units = s.ue_max("pic_height_in_map_units_minus1", MAX_DIMENSION_MBS - 1)? + 1;
    let frame_mbs_only = s.flag("frame_mbs_only_flag")?;
    if !frame_mbs_only {
        s.flag("mb_adaptive_frame_field_flag")?;
    }
    s.flag("direct_8x8_inference_flag")?;

    let field_factor: u64 = if frame_mbs_only { 1 } else { 2 };
    let coded_width = u64::from(width_mbs) * 16;
    let coded_height = field_factor * u64::from(height_units) * 16;
    let (mut width, mut height) = (coded_width, coded_height);
    if s.flag("frame_cropping_flag")? {
        let left = u64::from(s.ue("frame_crop_left_offset")?);
        let right = u64::from(s.ue("frame_crop_right_offset")?);
        let top = u64::from(s.ue("frame_crop_top_offset")?);
        let bottom = u64::from(s.ue("frame_crop_bottom_offset")?);
        // Table 6-1: crop units depend on chroma subsampling; ChromaArrayType 0 (monochrome or
        // separate planes) crops in luma samples.
        let (unit_x, unit_y) = if separate_colour_plane || chroma_format_idc == 0 {
            (1, field_factor)
        } else {
            let sub_width = if chroma_format_idc == 3 { 1 } else { 2 };
            let sub_height = if chroma_format_idc == 1 { 2 } else { 1 };
            (sub_width, sub_height * field_factor)
        };
        let crop_x = (left + right) * unit_x;
        let crop_y = (top + bottom) * unit_y;
        if crop_x >= coded_width || crop_y >= coded_height {
            return Err(AvcError::CropTooLarge {
                crop_x,
                crop_y,
                width: coded_width,
                height: coded_height,
            });
        }
        width -= crop_x;
        height -= crop_y;
    }
    // VUI is not needed for the size and is the part encoders most often get wrong, so it is
    // deliberately not parsed.

    Ok(SpsInfo {
        profile_idc,
        constraint_flags,
        level_idc,
        chroma_format_idc: chroma_format_idc as u8,
        bit_depth_luma: bit_depth_luma as u8,
        bit_depth_chroma: bit_depth_chroma as u8,
        frame_mbs_only,
        // Bounded by MAX_DIMENSION_MBS * 32, so these fit.
        coded_width: coded_width as u32,
        coded_height: coded_height as u32,
        width: width as u32,
        height: height as u32,
    })
}

/// Drops emulation prevention bytes (`00 00 03` -> `00 00`). Allocates at most the SPS length,
/// which the record already bounded to 64 KiB.
pub(crate) fn unescape_rbsp(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    let mut zeros = 0usize;
    for &b in payload {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Bit reader whose failures name the SPS field being read.
struct SpsReader<'a> {
    r: BitReader<'a>,
}

impl SpsReader<'_> {
    fn map(field: &'static str) -> impl Fn(BitError) -> AvcError {
        move |e| match e {
            BitError::Eof => AvcError::SpsTruncated { field },
            BitError::Overlong => AvcError::SpsOverlong { field },
        }
    }

    fn u(&mut self, n: u32, field: &'static str) -> Result<u32, AvcError> {
        self.r.bits(n).map_err(Self::map(field))
    }

    fn flag(&mut self, field: &'static str) -> Result<bool, AvcError> {
        self.r.flag().map_err(Self::map(field))
    }

    fn ue(&mut self, field: &'static str) -> Result<u32, AvcError> {
        self.r.ue().map_err(Self::map(field))
    }

    fn ue_max(&mut self, field: &'static str, max: u32) -> Result<u32, AvcError> {
        let value = self.ue(field)?;
        if value > max {
            return Err(AvcError::SpsOutOfRange { field, value, max });
        }
        Ok(value)
    }

    fn se(&mut self, field: &'static str) -> Result<i32, AvcError> {
        self.r.se().map_err(Self::map(field))
    }

    /// H.264 7.3.2.1.1.1: the list is delta-coded and stops early when next_scale hits 0.
    fn skip_scaling_list(&mut self, size: usize) -> Result<(), AvcError> {
        let mut last_scale: i64 = 8;
        let mut next_scale: i64 = 8;
        for _ in 0..size {
            if next_scale != 0 {
                let delta = i64::from(self.se("delta_scale")?);
                if !(-128..=127).contains(&delta) {
                    return Err(AvcError::SpsOutOfRange {
                        field: "delta_scale",
                        value: delta.unsigned_abs().min(u64::from(u32::MAX)) as u32,
                        max: 127,
                    });
                }
                next_scale = (last_scale + delta + 256).rem_euclid(256);
            }
            if next_scale != 0 {
                last_scale = next_scale;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes H.264 syntax elements so tests can build SPSs field by field.
    #[derive(Default)]
    struct BitWriter {
        bytes: Vec<u8>,
        bits: usize,
    }

    impl BitWriter {
        fn bit(&mut self, b: bool) -> &mut Self {
            if self.bits & 7 == 0 {
                self.bytes.push(0);
            }
            if b {
                let last = self.bytes.last_mut().expect("pushed above");
                *last |= 0x80 >> (self.bits % 8);
            }
            self.bits += 1;
            self
        }
        fn u(&mut self, n: u32, v: u32) -> &mut Self {
            for i in (0..n).rev() {
                self.bit((v >> i) & 1 == 1);
            }
            self
        }
        fn ue(&mut self, v: u32) -> &mut Self {
            let x = u64::from(v) + 1;
            let len = 64 - x.leading_zeros();
            for _ in 0..len - 1 {
                self.bit(false);
            }
            for i in (0..len).rev() {
                self.bit((x >> i) & 1 == 1);
            }
            self
        }
        fn se(&mut self, v: i32) -> &mut Self {
            let k = if v > 0 {
                2 * v as u32 - 1
            } else {
                (-2 * v) as u32
            };
            self.ue(k)
        }
        /// RBSP trailing bits, then escaped into a NAL unit with the SPS header.
        fn finish_sps(&mut self) -> Vec<u8> {
            self.bit(true);
            let mut nal = vec![0x67];
            let mut zeros = 0;
            for &b in &self.bytes {
                if zeros >= 2 && b <= 3 {
                    nal.push(3);
                    zeros = 0;
                }
                zeros = if b == 0 { zeros + 1 } else { 0 };
                nal.push(b);
            }
            nal
        }
    }

    fn baseline_sps(width_mbs: u32, height_units: u32, frame_mbs_only: bool) -> BitWriter {
        let mut w = BitWriter::default();
        w.u(8, 66).u(8, 0xc0).u(8, 30).ue(0);
        w.ue(0); // log2_max_frame_num_minus4
        w.ue(2); // pic_order_cnt_type
        w.ue(1).bit(false); // max_num_ref_frames, gaps
        w.ue(width_mbs - 1).ue(height_units - 1).bit(frame_mbs_only);
        if !frame_mbs_only {
            w.bit(false);
        }
        w.bit(true); // direct_8x8
        w
    }

    #[test]
    fn baseline_without_cropping() {
        let mut w = baseline_sps(40, 30, true);
        w.bit(false).bit(false); // no cropping, no VUI
        let sps = parse_sps(&w.finish_sps()).unwrap();
        assert_eq!((sps.width, sps.height), (640, 480));
        assert_eq!((sps.profile_idc, sps.level_idc), (66, 30));
        assert_eq!(sps.chroma_format_idc, 1);
    }

    #[test]
    fn cropping_1080p() {
        let mut w = baseline_sps(120, 68, true);
        w.bit(true).ue(0).ue(0).ue(0).ue(4).bit(false);
        let sps = parse_sps(&w.finish_sps()).unwrap();
        assert_eq!((sps.coded_width, sps.coded_height), (1920, 1088));
        assert_eq!((sps.width, sps.height), (1920, 1080));
    }

    #[test]
    fn interlaced_doubles_height_and_crop_unit() {
        let mut w = baseline_sps(45, 18, false);
        // 4:2:0 field coding: crop unit y = 2 * 2 = 4 lines.
        w.bit(true).ue(0).ue(0).ue(0).ue(2).bit(false);
        let sps = parse_sps(&w.finish_sps()).unwrap();
        assert!(!sps.frame_mbs_only);
        assert_eq!((sps.coded_width, sps.coded_height), (720, 576));
        assert_eq!((sps.width, sps.height), (720, 568));
    }

    fn high_sps(profile: u32, chroma: u32, scaling: bool, poc_type: u32) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.u(8, profile).u(8, 0).u(8, 40).ue(1);
        w.ue(chroma);
        if chroma == 3 {
            w.bit(false);
        }
        w.ue(2).ue(2).bit(false); // 10-bit, bypass off
        w.bit(scaling);
        if scaling {
            let lists = if chroma == 3 { 12 } else { 8 };
            for i in 0..lists {
                let present = i % 2 == 0;
                w.bit(present);
                if present {
                    let size = if i < 6 { 16 } else { 64 };
                    // A few explicit deltas, then 0 -> next_scale 0 ends the list early
                    // on i == 0, and a full list otherwise.
                    if i == 0 {
                        w.se(5).se(-13);
                    } else {
                        for j in 0..size {
                            w.se(if j % 2 == 0 { 1 } else { -1 });
                        }
                    }
                }
            }
        }
        w.ue(4); // log2_max_frame_num_minus4
        w.ue(poc_type);
        match poc_type {
            0 => {
                w.ue(6);
            }
            1 => {
                w.bit(false).se(-3).se(7).ue(3).se(1).se(-2).se(100);
            }
            _ => {}
        }
        w.ue(4).bit(false);
        w.ue(79).ue(44).bit(true).bit(true); // 1280x720
        w.bit(true).ue(0).ue(0).ue(0).ue(0).bit(false);
        w.finish_sps()
    }

    #[test]
    fn high_profiles_with_scaling_lists() {
        for (profile, chroma) in [(100, 1), (110, 1), (122, 2), (244, 3), (244, 0)] {
            for poc_type in 0..3 {
                let nal = high_sps(profile, chroma, true, poc_type);
                let sps = parse_sps(&nal).unwrap_or_else(|e| {
                    panic!("profile {profile} chroma {chroma} poc {poc_type}: {e}")
                });
                assert_eq!((sps.width, sps.height), (1280, 720));
                assert_eq!(sps.chroma_format_idc, chroma as u8);
                assert_eq!(sps.bit_depth_luma, 10);
                let plain = parse_sps(&high_sps(profile, chroma, false, poc_type)).unwrap();
                assert_eq!((plain.width, plain.height), (1280, 720));
            }
        }
    }

    #[test]
    fn chroma_crop_units() {
        // 4:2:2 progressive crops 2 px horizontally and 1 line vertically per unit.
        let mut w = BitWriter::default();
        w.u(8, 122)
            .u(8, 0)
            .u(8, 40)
            .ue(0)
            .ue(2)
            .ue(0)
            .ue(0)
            .bit(false)
            .bit(false);
        w.ue(0).ue(2).ue(1).bit(false);
        w.ue(39).ue(29).bit(true).bit(true);
        w.bit(true).ue(1).ue(2).ue(3).ue(4).bit(false);
        let sps = parse_sps(&w.finish_sps()).unwrap();
        assert_eq!((sps.width, sps.height), (640 - 6, 480 - 7));
    }

    /// SPS of ffmpeg 5.1 / x264 `testsrc2=size=640x360`, `-profile:v high`.
    const X264_640X360_SPS: &[u8] = &[
        0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03,
        0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2d, 0x96,
    ];

    #[test]
    fn real_x264_sps() {
        let sps = parse_sps(X264_640X360_SPS).unwrap();
        assert_eq!((sps.width, sps.height), (640, 360));
        assert_eq!((sps.coded_width, sps.coded_height), (640, 368));
        assert_eq!(sps.profile_idc, 100);
        assert_eq!(sps.level_idc, 30);
    }

    #[test]
    fn record_parse_and_codec_string() {
        let mut record = vec![1, 0x64, 0x00, 0x1e, 0xff, 0xe1];
        record.extend_from_slice(&(X264_640X360_SPS.len() as u16).to_be_bytes());
        record.extend_from_slice(X264_640X360_SPS);
        record.extend_from_slice(&[1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb]);
        record.extend_from_slice(&[0xfd, 0xf8, 0xf8, 0]); // High-profile extension
        let cfg = AvcDecoderConfig::parse(&record).unwrap();
        assert_eq!(cfg.codec_string(), "avc1.64001e");
        assert_eq!(cfg.nalu_length_size, 4);
        assert_eq!(cfg.sps.len(), 1);
        assert_eq!(cfg.pps, vec![vec![0x68, 0xeb, 0xe3, 0xcb]]);
        assert_eq!(cfg.first_sps().unwrap().width, 640);

        for cut in 0..record.len() - 4 {
            assert!(
                AvcDecoderConfig::parse(&record[..cut]).is_err(),
                "cut at {cut} must fail"
            );
        }
    }

    #[test]
    fn record_errors() {
        assert_eq!(
            AvcDecoderConfig::parse(&[0, 0x64, 0, 0x1e, 0xff, 0xe0, 0]),
            Err(AvcError::BadVersion(0))
        );
        assert_eq!(
            AvcDecoderConfig::parse(&[1, 0x64, 0, 0x1e, 0xfe, 0xe0, 0]),
            Err(AvcError::BadNaluLengthSize(3))
        );
        let no_sps = AvcDecoderConfig::parse(&[1, 0x64, 0, 0x1e, 0xff, 0xe0, 0]).unwrap();
        assert_eq!(no_sps.first_sps(), Err(AvcError::NoSps));
        assert!(matches!(
            AvcDecoderConfig::parse(&[1, 0x64, 0, 0x1e, 0xff, 0xe1, 0, 0]),
            Err(AvcError::EmptyParameterSet {
                what: "SPS",
                offset: 6
            })
        ));
        assert!(matches!(
            AvcDecoderConfig::parse(&[1, 0x64, 0, 0x1e, 0xff, 0xe1, 0xff, 0xff, 0x67]),
            Err(AvcError::RecordTruncated { offset: 8, .. })
        ));
    }

    #[test]
    fn sps_errors() {
        assert!(matches!(parse_sps(&[]), Err(AvcError::SpsTruncated { .. })));
        assert_eq!(
            parse_sps(&[0x68, 0x64]),
            Err(AvcError::NotAnSps { nal_type: 8 })
        );
        // Huge width: 2048 MBs is the cap.
        let mut w = baseline_sps(1, 1, true);
        w.bytes.clear();
        w.bits = 0;
        w.u(8, 66)
            .u(8, 0)
            .u(8, 30)
            .ue(0)
            .ue(0)
            .ue(2)
            .ue(1)
            .bit(false);
        w.ue(5000).ue(10);
        assert!(matches!(
            parse_sps(&w.finish_sps()),
            Err(AvcError::SpsOutOfRange {
                field: "pic_width_in_mbs_minus1",
                ..
            })
        ));
        // Cropping away everything.
        let mut w = baseline_sps(2, 2, true);
        w.bit(true).ue(8).ue(8).ue(0).ue(0);
        assert!(matches!(
            parse_sps(&w.finish_sps()),
            Err(AvcError::CropTooLarge { .. })
        ));
        // Overlong exp-Golomb in seq_parameter_set_id.
        assert!(matches!(
            parse_sps(&[0x67, 66, 0, 30, 0, 0, 0, 0, 0, 1]),
            Err(AvcError::SpsOverlong { .. })
        ));
        // Every truncation of a valid SPS fails cleanly or (if the cut only drops the VUI or
        // trailing bits) still succeeds.
        for cut in 0..X264_640X360_SPS.len() {
            let _ = parse_sps(&X264_640X360_SPS[..cut]);
        }
    }
}
