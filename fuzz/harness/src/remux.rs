//! FLV bytes through the reader into the fMP4 remuxer, as the browser client plays a recorded
//! or live stream. Every output must be a well-formed box tree.
//!
//! Input: a flags byte (bit 0: announce tracks from bits 1-2; bit 3: tight queue limit;
//! bit 4: reset after every script tag; bit 5: flush after every tag), a piece-size byte, then
//! the FLV stream.

use rtmpws_media::flv::{FlvItem, FlvReader, TagKind};
use rtmpws_media::{RemuxConfig, RemuxOutput, Remuxer};

use crate::{pieces, Input};

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let split = input.byte();
    let mut config = RemuxConfig::default();
    if flags & 8 != 0 {
        config.max_queued_bytes = 512;
        config.track_wait_ms = 100;
        config.gap_threshold_ms = 50;
    }
    let max_queued = config.max_queued_bytes;
    let mut remuxer = Remuxer::new(config);
    if flags & 1 != 0 {
        remuxer.expect_tracks(flags & 2 != 0, flags & 4 != 0);
    }
    let mut reader = FlvReader::new();
    let mut largest = 0usize;
    'outer: for piece in pieces(input.rest(), split) {
        reader.push(piece);
        loop {
            let tag = match reader.next_item() {
                Ok(Some(FlvItem::Tag(tag))) => tag,
                Ok(Some(FlvItem::Header(_))) => continue,
                Ok(None) => break,
                Err(_) => break 'outer,
            };
            // Errors are reported per tag and playback goes on, as in the client.
            match tag.kind {
                TagKind::Video => {
                    largest = largest.max(tag.data.len());
                    let _ = remuxer.push_video_bytes(tag.timestamp, tag.data);
                }
                TagKind::Audio => {
                    largest = largest.max(tag.data.len());
                    let _ = remuxer.push_audio_bytes(tag.timestamp, tag.data);
                }
                TagKind::Script if flags & 16 != 0 => remuxer.reset(),
                _ => {}
            }
            if flags & 32 != 0 {
                remuxer.flush(false);
            }
            drain(&mut remuxer);
            // Past the limit the remuxer flushes by itself, holding back only the last sample
            // of each track (its duration is not known yet).
            assert!(
                remuxer.queued_bytes() <= max_queued + 2 * (largest + 128),
                "{} bytes queued",
                remuxer.queued_bytes()
            );
        }
    }
    remuxer.flush(true);
    drain(&mut remuxer);
}

fn drain(remuxer: &mut Remuxer) {
    while let Some(output) = remuxer.poll_output() {
        match output {
            RemuxOutput::Init {
                data,
                mime,
                width,
                height,
                has_video,
                ..
            } => {
                let top = boxes(&data);
                assert_eq!(top.first().map(|b| &b.0), Some(b"ftyp"));
                assert_eq!(top.get(1).map(|b| &b.0), Some(b"moov"));
                assert!(mime.contains("codecs=\""), "{mime}");
                assert_eq!(has_video, width > 0 && height > 0, "{width}x{height}");
            }
            RemuxOutput::Media {
                data,
                start_ms,
                end_ms,
                ..
            } => {
                assert!(start_ms.is_finite() && start_ms >= 0.0 && start_ms <= end_ms);
                let top = boxes(&data);
                assert_eq!(top.first().map(|b| &b.0), Some(b"moof"));
                assert!(top.iter().any(|b| &b.0 == b"mdat"));
            }
        }
    }
}

const CONTAINERS: [&[u8; 4]; 9] = [
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf", b"dinf",
];

/// The boxes of `data`, which they must tile exactly; containers are checked recursively.
fn boxes(data: &[u8]) -> Vec<([u8; 4], usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        assert!(data.len() - pos >= 8, "box header cut at {pos}");
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let name: [u8; 4] = data[pos + 4..pos + 8].try_into().unwrap();
        assert!(
            size >= 8 && size <= data.len() - pos,
            "box {name:?} of {size} bytes"
        );
        if CONTAINERS.contains(&&name) {
            boxes(&data[pos + 8..pos + size]);
        }
        out.push((name, size));
        pos += size;
    }
    out
}
