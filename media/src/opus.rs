//! Opus in FLV and MP4: the ID header (`OpusHead`, RFC 7845 5.1) an Enhanced RTMP `Opus`
//! sequence start carries, the `dOps` box ("Encapsulation of Opus in ISO Base Media File
//! Format" 4.3.2) it becomes in MP4, and packet durations from the TOC byte (RFC 6716 3.1).

use thiserror::Error;

use crate::reader::ByteReader;

/// Opus always decodes at 48 kHz; MP4 Opus tracks use it as their timescale.
pub const SAMPLE_RATE: u32 = 48_000;

/// Why an Opus ID header was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OpusError {
    #[error("Opus ID header ends inside {0}")]
    Truncated(&'static str),
    #[error("Opus ID header has version {0}; only major version 0 is understood")]
    BadVersion(u8),
    #[error("Opus ID header declares 0 channels")]
    NoChannels,
}

/// A parsed Opus ID header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusConfig {
    pub channels: u8,
    /// Samples (at 48 kHz) to discard from the decoder's output at the start.
    pub pre_skip: u16,
    /// The encoder's input rate (informational; playback is at 48 kHz).
    pub input_sample_rate: u32,
    /// Q7.8 dB.
    pub output_gain: i16,
    pub mapping_family: u8,
    /// For mapping family != 0: stream count, coupled count, one mapping byte per channel.
    pub stream_count: u8,
    pub coupled_count: u8,
    pub mapping: Vec<u8>,
}

impl OpusConfig {
    /// Parses an `OpusHead` ID header (little-endian fields after the magic), or a `dOps`
    /// payload (big-endian, version 0) for writers that put that in FLV instead. An empty
    /// sequence start means stereo with mapping family 0, as the Enhanced RTMP spec says.
    pub fn parse(data: &[u8]) -> Result<Self, OpusError> {
        if data.is_empty() {
            return Ok(OpusConfig {
                channels: 2,
                pre_skip: 0,
                input_sample_rate: SAMPLE_RATE,
                output_gain: 0,
                mapping_family: 0,
                stream_count: 1,
                coupled_count: 1,
                mapping: Vec::new(),
            });
        }
        let (little_endian, fields) = match data.strip_prefix(b"OpusHead") {
            Some(rest) => (true, rest),
            None => (false, data),
        };
        let mut r = ByteReader::new(fields);
        let version = r.u8().ok_or(OpusError::Truncated("the version"))?;
        if (little_endian && version >> 4 != 0) || (!little_endian && version != 0) {
            return Err(OpusError::BadVersion(version));
        }
        let channels = r.u8().ok_or(OpusError::Truncated("the channel count"))?;
        if channels == 0 {
            return Err(OpusError::NoChannels);
        }
        let [a, b] = r.array().ok_or(OpusError::Truncated("the pre-skip"))?;
        let [c, d, e, f] = r
            .array()
            .ok_or(OpusError::Truncated("the input sample rate"))?;
        let [g, h] = r.array().ok_or(OpusError::Truncated("the output gain"))?;
        let (pre_skip, input_sample_rate, output_gain) = if little_endian {
            (
                u16::from_le_bytes([a, b]),
                u32::from_le_bytes([c, d, e, f]),
                i16::from_le_bytes([g, h]),
            )
        } else {
            (
                u16::from_be_bytes([a, b]),
                u32::from_be_bytes([c, d, e, f]),
                i16::from_be_bytes([g, h]),
            )
        };
        let mapping_family = r.u8().ok_or(OpusError::Truncated("the mapping family"))?;
        let (mut stream_count, mut coupled_count, mut mapping) =
            (1, u8::from(channels == 2), Vec::new());
        if mapping_family != 0 {
            stream_count = r.u8().ok_or(OpusError::Truncated("the stream count"))?;
            coupled_count = r.u8().ok_or(OpusError::Truncated("the coupled count"))?;
            mapping = r
                .bytes(usize::from(channels))
                .ok_or(OpusError::Truncated("the channel mapping"))?
                .to_vec();
        }
        Ok(OpusConfig {
            channels,
            pre_skip,
            input_sample_rate,
            output_gain,
            mapping_family,
            stream_count,
            coupled_count,
            mapping,
        })
    }

    /// The `dOps` box payload.
    pub fn to_dops(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(11 + 2 + self.mapping.len());
        out.push(0); // Version
        out.push(self.channels);
        out.extend_from_slice(&self.pre_skip.to_be_bytes());
        out.extend_from_slice(&self.input_sample_rate.to_be_bytes());
        out.extend_from_slice(&self.output_gain.to_be_bytes());
        out.push(self.mapping_family);
        if self.mapping_family != 0 {
            out.push(self.stream_count);
            out.push(self.coupled_count);
            out.extend_from_slice(&self.mapping);
        }
        out
    }

    /// The codec string MSE wants.
    pub fn codec_string(&self) -> String {
        "opus".to_owned()
    }
}

/// Duration of an Opus packet in 48 kHz samples, from its TOC byte and frame count; `None`
/// for an empty or malformed packet (or one longer than the 120 ms Opus allows).
pub fn packet_duration(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    let total = frame * frames;
    (total > 0 && total <= 5760).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_head_becomes_dops() {
        // ffmpeg/libopus mono: OpusHead, version 1, 1 channel, pre-skip 312, 48 kHz, gain 0.
        let head = b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00";
        let config = OpusConfig::parse(head).unwrap();
        assert_eq!((config.channels, config.pre_skip), (1, 312));
        assert_eq!(config.input_sample_rate, 48_000);
        assert_eq!(
            config.to_dops(),
            [0, 1, 0x01, 0x38, 0, 0, 0xbb, 0x80, 0, 0, 0]
        );
        // The dOps form parses back to the same thing.
        assert_eq!(OpusConfig::parse(&config.to_dops()).unwrap(), config);
        assert_eq!(OpusConfig::parse(&[]).unwrap().channels, 2);

        let surround =
            b"OpusHead\x01\x06\x38\x01\x80\xbb\x00\x00\x00\x00\x01\x04\x02\x00\x04\x01\x02\x03\x05";
        let config = OpusConfig::parse(surround).unwrap();
        assert_eq!((config.stream_count, config.coupled_count), (4, 2));
        assert_eq!(config.mapping, [0, 4, 1, 2, 3, 5]);
        assert_eq!(config.to_dops().len(), 11 + 2 + 6);

        assert_eq!(
            OpusConfig::parse(b"OpusHead\x01\x06\x38\x01\x80\xbb\x00\x00\x00\x00\x01\x04"),
            Err(OpusError::Truncated("the coupled count"))
        );
        assert_eq!(
            OpusConfig::parse(b"OpusHead\x21"),
            Err(OpusError::BadVersion(0x21))
        );
        assert_eq!(
            OpusConfig::parse(b"OpusHead\x01\x00"),
            Err(OpusError::NoChannels)
        );
    }

    #[test]
    fn durations_from_the_toc() {
        assert_eq!(packet_duration(&[0xf8]), Some(960)); // CELT FB 20 ms, one frame
        assert_eq!(packet_duration(&[0xf9, 0]), Some(1920)); // two frames
        assert_eq!(packet_duration(&[0x0b, 3]), Some(960 * 3)); // SILK 20 ms, code 3, 3 frames
        assert_eq!(packet_duration(&[0x1b, 2]), Some(5760)); // SILK 60 ms x 2 = 120 ms
        assert_eq!(packet_duration(&[0x1b, 3]), None); // 180 ms is more than Opus allows
        assert_eq!(packet_duration(&[0x83, 0x00]), None); // zero frames
        assert_eq!(packet_duration(&[0x83]), None);
        assert_eq!(packet_duration(&[]), None);
    }
}
