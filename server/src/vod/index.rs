//! What the gateway knows about a recorded FLV before playing it: metadata, sequence headers,
//! duration, playable tracks, and where the keyframes are, so a seek is one file seek.
//!
//! Built from the bytes of the file (sans-IO): the caller pushes what it read.

use bytes::Bytes;
use rtmpws_media::flv::{FlvError, FlvItem, FlvReader, TagKind, TAG_HEADER_SIZE};
use rtmpws_media::tag::{parse_audio_tag, parse_video_tag, AudioCodec, VideoCodec};
use rtmpws_protocol::amf::{amf0, DecodeLimits, Value};

/// A keyframe: its timestamp and the file offset of its tag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyframe {
    pub timestamp: u32,
    pub offset: u64,
}

/// A scanned recorded file.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// The `onMetaData` script data, as stored: `["onMetaData", {...}]`.
    pub metadata: Option<Vec<Value>>,
    pub audio_header: Option<Bytes>,
    pub video_header: Option<Bytes>,
    /// Video keyframes in file order (for audio-only files: every audio tag's position is
    /// a valid start, so `starts` below is used instead).
    pub keyframes: Vec<Keyframe>,
    /// Offset of the first audio/video tag after the headers: where playback from 0 starts.
    pub first_media: Option<Keyframe>,
    /// Last media timestamp seen (ms).
    pub duration_ms: u32,
    pub has_avc: bool,
    pub has_aac: bool,
    /// Enhanced RTMP tracks the gateway relays (HEVC, AV1, VP9, enhanced AVC; Opus, FLAC,
    /// enhanced AAC...): playable by enhanced clients only.
    pub has_enhanced: bool,
    pub has_other_media: bool,
    /// Bytes of media tags, for Play.Complete's `bytes`.
    pub media_bytes: u64,
    /// Where reading stopped early, if the file is damaged or truncated.
    pub damage: Option<FlvError>,
    /// The file does not even start like an FLV file.
    pub not_flv: bool,
    /// End of the last complete tag (with its PreviousTagSize): where to append.
    pub end_offset: u64,
    /// Largest timestamp of any tag.
    pub last_timestamp: u32,
}

impl Index {
    /// True if a client can play at least one track (H.264, HEVC, AV1 or VP9 video; AAC, Opus
    /// or FLAC audio, legacy or enhanced).
    pub fn playable(&self) -> bool {
        self.has_avc || self.has_aac || self.has_enhanced
    }

    /// Where to start reading to play from `ms`: the keyframe at or before it (the first media
    /// tag if there is none before it).
    pub fn start_at_or_before(&self, ms: u32) -> Option<Keyframe> {
        match self.keyframes.partition_point(|k| k.timestamp <= ms) {
            0 => self.first_media,
            n => self.keyframes.get(n - 1).copied(),
        }
    }

    /// The first keyframe at or after `ms` (for play2 switches, which take over at a keyframe).
    pub fn keyframe_at_or_after(&self, ms: u32) -> Option<Keyframe> {
        let n = self.keyframes.partition_point(|k| k.timestamp < ms);
        self.keyframes.get(n).copied()
    }

    pub fn duration_secs(&self) -> f64 {
        f64::from(self.duration_ms) / 1000.0
    }
}

/// Builds an [`Index`] from a file's bytes, pushed in order.
pub struct IndexBuilder {
    reader: FlvReader,
    index: Index,
    started: bool,
}

impl Default for IndexBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl IndexBuilder {
    pub fn new() -> Self {
        IndexBuilder {
            reader: FlvReader::new(),
            index: Index::default(),
            started: false,
        }
    }

    /// Feeds the next bytes of the file. Returns false once reading cannot go on (damage).
    pub fn push(&mut self, bytes: &[u8]) -> bool {
        self.reader.push(bytes);
        loop {
            match self.reader.next_item() {
                Ok(Some(FlvItem::Header(_))) => self.started = true,
                Ok(Some(FlvItem::Tag(tag))) => {
                    // The reader's offset is now just past this tag.
                    let offset = self.reader.offset() - (TAG_HEADER_SIZE + tag.data.len()) as u64;
                    self.tag(tag.kind, tag.timestamp, tag.data, offset);
                }
                Ok(None) => return true,
                Err(e) => {
                    if !self.started {
                        self.index.not_flv = true;
                    }
                    self.index.damage = Some(e);
                    return false;
                }
            }
        }
    }

    /// When the file's onMetaData carries a keyframe table (`keyframes: {times,
    /// filepositions}`, as ffmpeg's `-flvflags add_keyframe_index` and other tools write it)
    /// and the headers and first media tag were read, the index is complete without reading
    /// the rest of a possibly huge file. `None` until then, or if the table is unusable.
    pub fn finish_from_metadata(&self, file_len: u64) -> Option<Index> {
        let index = &self.index;
        let first_media = index.first_media?;
        let metadata = index.metadata.as_ref()?.get(1)?;
        let table = metadata.get("keyframes")?;
        let numbers = |key: &str| -> Option<Vec<f64>> {
            match table.get(key)? {
                Value::StrictArray(items) => items.iter().map(Value::as_f64).collect(),
                _ => None,
            }
        };
        let (times, positions) = (numbers("times")?, numbers("filepositions")?);
        if times.is_empty() || times.len() != positions.len() {
            return None;
        }
        let mut keyframes = Vec::with_capacity(times.len());
        for (time, position) in times.iter().zip(&positions) {
            let valid =
                time.is_finite() && *time >= 0.0 && position.is_finite() && *position >= 0.0;
            let offset = *position as u64;
            let timestamp = (time * 1000.0).round() as u32;
            // Trust the table only if it is in order and inside the file.
            if !valid
                || offset >= file_len
                || keyframes
                    .last()
                    .is_some_and(|k: &Keyframe| k.offset >= offset || k.timestamp > timestamp)
            {
                return None;
            }
            keyframes.push(Keyframe { timestamp, offset });
        }
        let duration = metadata
            .get_f64("duration")
            .filter(|d| d.is_finite() && *d > 0.0)?;
        Some(Index {
            keyframes,
            first_media: Some(first_media),
            duration_ms: (duration * 1000.0) as u32,
            media_bytes: file_len.saturating_sub(first_media.offset),
            ..index.clone()
        })
    }

    /// The index, once every byte was pushed.
    pub fn finish(mut self) -> Index {
        if self.index.damage.is_none() {
            if let Err(e) = self.reader.finish() {
                self.index.not_flv |= !self.started;
                self.index.damage = Some(e);
            }
        }
        self.index
    }

    fn tag(&mut self, kind: TagKind, timestamp: u32, data: Bytes, offset: u64) {
        let index = &mut self.index;
        index.end_offset = offset + (TAG_HEADER_SIZE + data.len() + 4) as u64;
        index.last_timestamp = index.last_timestamp.max(timestamp);
        match kind {
            TagKind::Script => {
                if index.metadata.is_none() {
                    let limits = DecodeLimits::default();
                    if let Ok(values) = amf0::decode_all(&data, limits) {
                        if values.first().and_then(Value::as_str) == Some("onMetaData") {
                            index.metadata = Some(values);
                        }
                    }
                }
                return;
            }
            TagKind::Other(_) => return,
            TagKind::Video => match parse_video_tag(&data) {
                Ok(info) if info.is_command() => return,
                Ok(info) if info.codec == VideoCodec::Avc || relayed_video(info.codec) => {
                    if info.codec == VideoCodec::Avc {
                        index.has_avc = true;
                    } else {
                        index.has_enhanced = true;
                    }
                    if info.is_sequence_header() {
                        // The default track's header is the one resent after a seek.
                        if info.track_id == 0 {
                            index.video_header.get_or_insert(data.clone());
                        }
                        return;
                    }
                    // The media crate's one keyframe rule for every codec: pictures only.
                    if info.is_keyframe() && info.track_id == 0 {
                        index.keyframes.push(Keyframe { timestamp, offset });
                    }
                }
                Ok(_) => index.has_other_media = true,
                Err(_) => return,
            },
            TagKind::Audio => match parse_audio_tag(&data) {
                Ok(info) if info.codec == AudioCodec::Aac || relayed_audio(info.codec) => {
                    if info.codec == AudioCodec::Aac {
                        index.has_aac = true;
                    } else {
                        index.has_enhanced = true;
                    }
                    if info.is_sequence_header() {
                        if info.track_id == 0 {
                            index.audio_header.get_or_insert(data.clone());
                        }
                        return;
                    }
                }
                Ok(_) => index.has_other_media = true,
                Err(_) => return,
            },
        }
        index
            .first_media
            .get_or_insert(Keyframe { timestamp, offset });
        index.duration_ms = index.duration_ms.max(timestamp);
        index.media_bytes += data.len() as u64;
    }
}

/// Enhanced video codecs a recorded file may be played with (what the browser client and
/// enhanced RTMP players decode).
fn relayed_video(codec: VideoCodec) -> bool {
    codec.is_avc() || matches!(codec, VideoCodec::HEVC | VideoCodec::AV1 | VideoCodec::VP9)
}

fn relayed_audio(codec: AudioCodec) -> bool {
    codec.is_aac() || matches!(codec, AudioCodec::OPUS | AudioCodec::FLAC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtmpws_media::flv::{write_file_header, write_tag};

    fn file() -> Vec<u8> {
        let mut out = Vec::new();
        write_file_header(true, true, &mut out);
        let mut meta = Vec::new();
        amf0::encode_all(
            &[
                "onMetaData".into(),
                Value::EcmaArray(vec![("duration".into(), 2.0.into())]),
            ],
            &mut meta,
        );
        write_tag(TagKind::Script, 0, &meta, &mut out).unwrap();
        write_tag(
            TagKind::Video,
            0,
            &[0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff],
            &mut out,
        )
        .unwrap();
        write_tag(TagKind::Audio, 0, &[0xAF, 0, 0x12, 0x10], &mut out).unwrap();
        for i in 0..60u32 {
            let frame = if i % 30 == 0 { 0x17 } else { 0x27 };
            write_tag(
                TagKind::Video,
                i * 33,
                &[frame, 1, 0, 0, 0, 0, 0, 0, 1, 0x65],
                &mut out,
            )
            .unwrap();
            write_tag(TagKind::Audio, i * 33 + 5, &[0xAF, 1, 0x21], &mut out).unwrap();
        }
        out
    }

    #[test]
    fn indexes_keyframes_headers_and_duration_fed_in_any_split() {
        let bytes = file();
        for split in [1, 7, 100, bytes.len()] {
            let mut builder = IndexBuilder::new();
            for part in bytes.chunks(split) {
                assert!(builder.push(part));
            }
            let index = builder.finish();
            assert!(index.damage.is_none() && !index.not_flv);
            assert!(
                index.metadata.is_some()
                    && index.audio_header.is_some()
                    && index.video_header.is_some()
            );
            let times: Vec<u32> = index.keyframes.iter().map(|k| k.timestamp).collect();
            assert_eq!(times, [0, 990]);
            assert_eq!(index.duration_ms, 59 * 33 + 5);
            assert!(index.playable());
            // The offsets point at tag headers: a video tag type byte.
            for k in &index.keyframes {
                assert_eq!(bytes[k.offset as usize], 9);
            }
            assert_eq!(index.start_at_or_before(1500).unwrap().timestamp, 990);
            assert_eq!(index.start_at_or_before(500).unwrap().timestamp, 0);
            assert_eq!(index.keyframe_at_or_after(500).unwrap().timestamp, 990);
            assert!(index.keyframe_at_or_after(1000).is_none());
        }
    }

    #[test]
    fn damaged_and_foreign_files_are_described_not_fatal() {
        let mut bytes = file();
        bytes.truncate(bytes.len() - 7);
        let mut builder = IndexBuilder::new();
        builder.push(&bytes);
        let index = builder.finish();
        assert!(index.damage.is_some() && !index.not_flv);
        assert_eq!(index.keyframes.len(), 2);

        let mut builder = IndexBuilder::new();
        assert!(!builder.push(b"<html>this is not a video</html>"));
        assert!(builder.finish().not_flv);

        let mut builder = IndexBuilder::new();
        let mut only_mp3 = Vec::new();
        write_file_header(true, false, &mut only_mp3);
        write_tag(TagKind::Audio, 0, &[0x2F, 0xFF, 0xFB], &mut only_mp3).unwrap();
        builder.push(&only_mp3);
        let index = builder.finish();
        assert!(!index.playable() && index.has_other_media);
    }
}
