//! `AVCDecoderConfigurationRecord` and SPS parsing of arbitrary bytes.
//!
//! Input: a selector byte (bit 0 set: the bytes are an SPS NAL unit; clear: a record), then
//! the bytes. Properties: no panic; what parses is within the ranges the remuxer relies on.

use rtmpws_media::avc::{parse_sps, AvcDecoderConfig, SpsInfo};

use crate::Input;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let selector = input.byte();
    let bytes = input.rest();
    if selector & 1 == 1 {
        if let Ok(info) = parse_sps(bytes) {
            check_sps(&info);
        }
        return;
    }
    let Ok(config) = AvcDecoderConfig::parse(bytes) else {
        return;
    };
    assert!(matches!(config.nalu_length_size, 1 | 2 | 4));
    assert_eq!(config.codec_string().len(), "avc1.000000".len());
    assert!(config.sps.len() <= 31);
    let sets = config.sps.iter().chain(&config.pps);
    let stored: usize = sets.map(|s| 2 + s.len()).sum();
    assert!(
        stored + 7 <= bytes.len(),
        "parameter sets come from the record"
    );
    assert!(config.sps.iter().chain(&config.pps).all(|s| !s.is_empty()));
    if let Ok(info) = config.first_sps() {
        check_sps(&info);
        assert_eq!(Ok(info), parse_sps(&config.sps[0]));
    }
}

fn check_sps(info: &SpsInfo) {
    assert!(info.width > 0 && info.height > 0, "{info:?}");
    assert!(info.width <= info.coded_width && info.height <= info.coded_height);
    assert!(info.chroma_format_idc <= 3);
}
