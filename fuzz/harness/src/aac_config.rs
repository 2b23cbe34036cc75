//! `AudioSpecificConfig` parsing of arbitrary bytes.
//!
//! Properties: no panic; what parses has a sample rate, a channel count and a frame length the
//! MP4 sample entry can carry.

use rtmpws_media::aac::{AudioSpecificConfig, MAX_CONFIG_LEN};

pub fn run(data: &[u8]) {
    let Ok(config) = AudioSpecificConfig::parse(data) else {
        return;
    };
    assert!(data.len() <= MAX_CONFIG_LEN);
    assert!(config.object_type > 0, "{config:?}");
    assert!(
        config.sample_rate > 0 && config.sample_rate < 1 << 24,
        "{config:?}"
    );
    assert!(config.frame_length == 1024 || config.frame_length == 960);
    assert!(config.channel_count() > 0);
    assert!(config.codec_string().starts_with("mp4a.40."));
    if let Some(rate) = config.extension_sample_rate {
        assert!(rate > 0 && rate < 1 << 24);
    }
}
