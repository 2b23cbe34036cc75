//! AAC `AudioSpecificConfig` (ISO/IEC 14496-3 1.6.2.1), the payload of an FLV/RTMP AAC
//! sequence header.
//!
//! Like the AVC record, the bytes go to the browser untouched (inside `esds`); this parser
//! validates them and extracts what the MP4 boxes and timing need: the sample rate (the audio
//! track's timescale), the frame length (each raw AAC tag is one frame) and the channel count.

use thiserror::Error;

use crate::reader::{BitError, BitReader};

/// Longest AudioSpecificConfig accepted. Real ones are 2-7 bytes; a program config element can
/// add a few dozen. Anything longer is garbage we would rather not hand to a decoder.
pub const MAX_CONFIG_LEN: usize = 256;

const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Why an AudioSpecificConfig was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AacError {
    #[error("AudioSpecificConfig ends inside {field}")]
    Truncated { field: &'static str },
    #[error("AudioSpecificConfig has audio object type 0 (null)")]
    NullObjectType,
    #[error("AudioSpecificConfig {field} uses reserved sampling frequency index {index}")]
    ReservedSamplingIndex { field: &'static str, index: u8 },
    #[error("AudioSpecificConfig {field} is an explicit sampling frequency of 0 Hz")]
    ZeroSampleRate { field: &'static str },
    #[error("AudioSpecificConfig is {len} bytes, over the {max}-byte limit")]
    TooLong { len: usize, max: usize },
}

/// A parsed AudioSpecificConfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// Audio object type as signalled first (2 = AAC-LC, 5 = SBR/HE-AAC, 29 = PS/HE-AACv2);
    /// escape value 31 already resolved to 32 + the 6-bit extension.
    pub object_type: u8,
    /// The sampling frequency index, or `None` when the rate was given explicitly.
    pub sampling_frequency_index: Option<u8>,
    /// Core sample rate in Hz: the rate the raw frames are coded at, so frame durations and
    /// the MP4 timescale are expressed in it even when SBR doubles the output rate.
    pub sample_rate: u32,
    /// channelConfiguration; 0 means a program config element describes the channels.
    pub channel_config: u8,
    /// For explicit SBR/PS signalling (object type 5 or 29): the output sample rate.
    pub extension_sample_rate: Option<u32>,
    /// Samples per raw frame at `sample_rate`: 1024, or 960 when frameLengthFlag is set.
    pub frame_length: u32,
}

impl AudioSpecificConfig {
    pub fn parse(data: &[u8]) -> Result<Self, AacError> {
        if data.len() > MAX_CONFIG_LEN {
            return Err(AacError::TooLong {
                len: data.len(),
                max: MAX_CONFIG_LEN,
            });
        }
        let mut r = BitReader::new(data);
        let object_type = read_object_type(&mut r, "audioObjectType")?;
        let (sampling_frequency_index, sample_rate) =
            read_sample_rate(&mut r, "samplingFrequencyIndex")?;
        let channel_config = read(&mut r, 4, "channelConfiguration")? as u8;

        let mut extension_sample_rate = None;
        let mut core_type = object_type;
        if object_type == 5 || object_type == 29 {
            extension_sample_rate =
                Some(read_sample_rate(&mut r, "extensionSamplingFrequencyIndex")?.1);
            core_type = read_object_type(&mut r, "the core audioObjectType")?;
        }

        // GASpecificConfig starts with frameLengthFlag for the general-audio object types.
        // Configs that stop before it are common enough (and harmless) that 1024 is assumed.
        let mut frame_length = 1024;
        if matches!(core_type, 1..=4 | 6 | 7 | 17 | 19..=23) {
            if let Ok(true) = r.flag() {
                frame_length = 960;
            }
        }

        Ok(AudioSpecificConfig {
            object_type,
            sampling_frequency_index,
            sample_rate,
            channel_config,
            extension_sample_rate,
            frame_length,
        })
    }

    /// The RFC 6381 codec string MSE wants, e.g. `mp4a.40.2`.
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }

    /// Channel count for the MP4 sample entry. Decoders take the real layout from the config
    /// itself; this only has to be plausible, so PCE-defined layouts report stereo.
    pub fn channel_count(&self) -> u16 {
        match self.channel_config {
            1..=6 => u16::from(self.channel_config),
            7 | 12 | 14 => 8,
            11 => 7,
            13 => 24,
            _ => 2,
        }
    }
}

fn read(r: &mut BitReader<'_>, n: u32, field: &'static str) -> Result<u32, AacError> {
    r.bits(n).map_err(|e| match e {
        BitError::Eof | BitError::Overlong => AacError::Truncated { field },
    })
}

fn read_object_type(r: &mut BitReader<'_>, field: &'static str) -> Result<u8, AacError> {
    let mut object_type = read(r, 5, field)?;
    if object_type == 31 {
        object_type = 32 + read(r, 6, field)?;
    }
    if object_type == 0 {
        return Err(AacError::NullObjectType);
    }
    Ok(object_type as u8)
}

fn read_sample_rate(
    r: &mut BitReader<'_>,
    field: &'static str,
) -> Result<(Option<u8>, u32), AacError> {
    let index = read(r, 4, field)? as u8;
    if index == 0x0f {
        let rate = read(r, 24, field)?;
        if rate == 0 {
            return Err(AacError::ZeroSampleRate { field });
        }
        return Ok((None, rate));
    }
    let rate = SAMPLE_RATES
        .get(usize::from(index))
        .copied()
        .ok_or(AacError::ReservedSamplingIndex { field, index })?;
    Ok((Some(index), rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_lc_44100_stereo() {
        // 00010 0100 0010 0 0 0 -> LC, 44.1 kHz, stereo (ffmpeg's usual config).
        let asc = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        assert_eq!(asc.object_type, 2);
        assert_eq!(asc.sampling_frequency_index, Some(4));
        assert_eq!(asc.sample_rate, 44100);
        assert_eq!(asc.channel_config, 2);
        assert_eq!(asc.channel_count(), 2);
        assert_eq!(asc.frame_length, 1024);
        assert_eq!(asc.codec_string(), "mp4a.40.2");
    }

    #[test]
    fn aac_lc_48000_mono_960() {
        // 00010 0011 0001 1 -> LC, 48 kHz, mono, frameLengthFlag set.
        let asc = AudioSpecificConfig::parse(&[0x11, 0x8c]).unwrap();
        assert_eq!(asc.sample_rate, 48000);
        assert_eq!(asc.channel_config, 1);
        assert_eq!(asc.frame_length, 960);
    }

    #[test]
    fn explicit_sbr_and_escape() {
        // 00101 0110 0010 0011 00010 000 -> SBR, core 24 kHz, stereo, ext 48 kHz, core LC.
        let asc = AudioSpecificConfig::parse(&[0x2b, 0x11, 0x88, 0x00]).unwrap();
        assert_eq!(asc.object_type, 5);
        assert_eq!(asc.sample_rate, 24000);
        assert_eq!(asc.extension_sample_rate, Some(48000));
        assert_eq!(asc.codec_string(), "mp4a.40.5");

        // 11111 000010 -> 32 + 2 = 34 (layer-3), index 3 (48 kHz), channel 1.
        let asc = AudioSpecificConfig::parse(&[0xf8, 0x46, 0x20]).unwrap();
        assert_eq!(asc.object_type, 34);
        assert_eq!(asc.sample_rate, 48000);
        assert_eq!(asc.channel_config, 1);
    }

    #[test]
    fn explicit_rate() {
        // 00010 1111 <24-bit 22000> 0001
        let rate = 22000u32;
        let bits: u64 = (2u64 << 35) | (0xfu64 << 31) | (u64::from(rate) << 7) | (1 << 3);
        let bytes = &bits.to_be_bytes()[3..];
        let asc = AudioSpecificConfig::parse(bytes).unwrap();
        assert_eq!(asc.sampling_frequency_index, None);
        assert_eq!(asc.sample_rate, 22000);
        assert_eq!(asc.channel_config, 1);

        let zero = ((2u64 << 35) | (0xfu64 << 31)).to_be_bytes();
        assert_eq!(
            AudioSpecificConfig::parse(&zero[3..]),
            Err(AacError::ZeroSampleRate {
                field: "samplingFrequencyIndex"
            })
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            AudioSpecificConfig::parse(&[]),
            Err(AacError::Truncated {
                field: "audioObjectType"
            })
        );
        assert_eq!(
            AudioSpecificConfig::parse(&[0x12]),
            Err(AacError::Truncated {
                field: "samplingFrequencyIndex"
            })
        );
        assert_eq!(
            AudioSpecificConfig::parse(&[0xf8, 0x46]),
            Err(AacError::Truncated {
                field: "channelConfiguration"
            })
        );
        assert_eq!(
            AudioSpecificConfig::parse(&[0x00, 0x10]),
            Err(AacError::NullObjectType)
        );
        // index 13 is reserved
        assert_eq!(
            AudioSpecificConfig::parse(&[0x16, 0x90]),
            Err(AacError::ReservedSamplingIndex {
                field: "samplingFrequencyIndex",
                index: 13
            })
        );
        assert!(matches!(
            AudioSpecificConfig::parse(&[0x12; 300]),
            Err(AacError::TooLong { len: 300, .. })
        ));
        // Escape with nothing after it.
        assert!(AudioSpecificConfig::parse(&[0xf8]).is_err());
    }
}
