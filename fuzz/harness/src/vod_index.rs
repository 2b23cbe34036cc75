//! The gateway's VOD index (`server/src/vod/index.rs`, compiled here as it is: it depends only
//! on the media and protocol crates) built from arbitrary file bytes pushed in pieces.
//!
//! Input: a piece-size byte, then the file. Properties: no panic; keyframes are in file order
//! inside the file; seeks land inside the file, at or after the first media tag; the append
//! point is inside the file; an index taken from the metadata's keyframe table stays inside
//! the file.

#[allow(dead_code)]
#[path = "../../../server/src/vod/index.rs"]
mod index;

use index::IndexBuilder;

use crate::{pieces, Input};

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let split = input.byte();
    let file = input.rest();
    let len = file.len() as u64;
    let mut builder = IndexBuilder::new();
    let mut early = None;
    for piece in pieces(file, split) {
        if early.is_none() {
            early = builder.finish_from_metadata(len);
        }
        if !builder.push(piece) {
            break;
        }
    }
    if let Some(index) = early.or_else(|| builder.finish_from_metadata(len)) {
        assert!(!index.keyframes.is_empty());
        assert!(index.keyframes.iter().all(|k| k.offset < len));
        assert!(index
            .keyframes
            .windows(2)
            .all(|w| w[0].offset < w[1].offset));
    }
    let index = builder.finish();
    assert!(index.end_offset <= len, "{} > {len}", index.end_offset);
    assert!(index
        .keyframes
        .windows(2)
        .all(|w| w[0].offset < w[1].offset));
    assert!(index.keyframes.iter().all(|k| k.offset < len));
    if let Some(first) = index.first_media {
        assert!(index.keyframes.iter().all(|k| k.offset >= first.offset));
        assert!(index.duration_ms <= index.last_timestamp);
        for ms in [
            0,
            1,
            999,
            index.duration_ms / 2,
            index.duration_ms,
            u32::MAX,
        ] {
            let start = index
                .start_at_or_before(ms)
                .expect("a start for every time");
            // Inside the file: a last tag that lacks its PreviousTagSize is still playable,
            // though appending starts over it (`end_offset`).
            assert!(start.offset >= first.offset && start.offset < len);
        }
    } else {
        assert!(index.keyframes.is_empty());
    }
    assert!(index.media_bytes <= len);
    if index.not_flv {
        assert!(index.damage.is_some() && index.first_media.is_none());
    }
    let _ = index.playable();
    let _ = index.duration_secs();
}
