//! The incremental FLV reader fed arbitrary bytes in arbitrary pieces, each tag classified
//! and its AVC/AAC sequence header parsed as the gateway's recorder and the player do.
//!
//! Input: a flags byte (bit 0: a 64-byte tag limit; bit 1: push owned buffers), a piece-size
//! byte, then the stream. Properties: no panic; tags respect the limit; offsets add up to the
//! bytes consumed; errors are sticky, also through `finish`.

use rtmpws_media::aac::AudioSpecificConfig;
use rtmpws_media::avc::AvcDecoderConfig;
use rtmpws_media::flv::{
    self, AacPacketType, AudioCodec, AvcPacketType, FlvItem, FlvReader, TagKind, VideoCodec,
    TAG_HEADER_SIZE,
};

use crate::{pieces, Input};

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let split = input.byte();
    let max = if flags & 1 != 0 {
        64
    } else {
        flv::DEFAULT_MAX_TAG_SIZE
    };
    let mut reader = FlvReader::with_max_tag_size(max);
    let mut pushed = 0u64;
    let mut headers = 0;
    let mut failed = None;
    'outer: for piece in pieces(input.rest(), split) {
        pushed += piece.len() as u64;
        if flags & 2 != 0 {
            reader.push_vec(piece.to_vec());
        } else {
            reader.push(piece);
        }
        loop {
            let before = reader.offset();
            match reader.next_item() {
                Ok(Some(FlvItem::Header(_))) => headers += 1,
                Ok(Some(FlvItem::Tag(tag))) => {
                    assert!(tag.data.len() <= max as usize);
                    assert!(reader.offset() - before >= (TAG_HEADER_SIZE + tag.data.len()) as u64);
                    classify(tag.kind, &tag.data);
                }
                Ok(None) => break,
                Err(e) => {
                    failed = Some(e);
                    break 'outer;
                }
            }
            assert!(headers <= 1, "one file header");
        }
        assert!(reader.offset() + reader.buffered() as u64 == pushed);
    }
    match failed {
        Some(e) => {
            assert_eq!(reader.next_item(), Err(e.clone()), "errors are sticky");
            assert_eq!(reader.finish(), Err(e));
        }
        None => {
            let _ = reader.finish();
        }
    }
    assert!(reader.offset() <= pushed);
}

/// What the recorder and the player read from a tag body.
pub fn classify(kind: TagKind, body: &[u8]) {
    match kind {
        TagKind::Video => {
            let Ok(info) = flv::parse_video_tag(body) else {
                return;
            };
            assert!(info.payload_offset <= body.len());
            if info.codec == VideoCodec::Avc
                && info.avc_packet_type == Some(AvcPacketType::SequenceHeader)
            {
                if let Ok(config) = AvcDecoderConfig::parse(&body[info.payload_offset..]) {
                    let _ = config.first_sps();
                }
            }
        }
        TagKind::Audio => {
            let Ok(info) = flv::parse_audio_tag(body) else {
                return;
            };
            assert!(info.payload_offset <= body.len());
            if info.codec == AudioCodec::Aac
                && info.aac_packet_type == Some(AacPacketType::SequenceHeader)
            {
                let _ = AudioSpecificConfig::parse(&body[info.payload_offset..]);
            }
        }
        TagKind::Script | TagKind::Other(_) => {}
    }
}
