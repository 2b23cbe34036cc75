//! One stream's media path: FLV audio and video tag bodies in, MSE-ready segments out.
//!
//! [`Pipeline`] is what a playing NetStream feeds: `connection.rs` owns one per stream so media
//! never crosses into JS before it is a segment, and `player.rs` wraps one for
//! `NetStream.appendBytes`. It knows nothing of RTMP or of JS events other than its own
//! segments, so both of those can depend on it without it depending on either.

use bytes::Bytes;
use js_sys::Array;
use rtmpws_media::tag::{self, Codec};
use rtmpws_media::{RemuxConfig, RemuxError, RemuxOutput, Remuxer};
use rtmpws_protocol::amf::Value;
use wasm_bindgen::prelude::*;

/// A timestamp this far (ms) behind the newest one of its track means a new timeline (a new
/// publisher, the next playlist item): the remuxer is reset rather than fed samples that would
/// all collapse onto its last decode time.
const BACKWARD_JUMP_MS: u32 = 1000;

/// Audio or video, as the pipeline sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    Audio,
    Video,
}

/// One stream's remuxer with the bookkeeping the JS media sink needs.
pub struct Pipeline {
    remuxer: Remuxer,
    /// Incremented on every reset: the sink starts a new epoch (a new `timestampOffset`) when
    /// the timeline of the segments it receives changes, since each timeline restarts at 0.
    timeline: u32,
    last_audio: Option<u32>,
    last_video: Option<u32>,
    /// Errors already reported since the last reset: a corrupt stream yields one event per
    /// kind, not one per tag.
    reported_invalid: bool,
    reported_unsupported: bool,
    /// Whether anything was pushed since the last drain (saves a flush per empty batch).
    dirty: bool,
    /// Newest media timestamp seen (ms), for the arrival-time latency estimate.
    newest: Option<u32>,
    /// Segments of a timeline that ended, waiting for the next drain.
    stash: Vec<Segment>,
    /// The tracks the player asked for (receiveAudio, receiveVideo).
    receive: (bool, bool),
    /// The tracks onMetaData announced, if it did.
    announced: Option<(bool, bool)>,
    /// `receive` changed: the new expectation starts with the next timeline, where the
    /// server's media with the new track set begins (a seek's or a restart's boundary).
    receive_changed: bool,
    /// The FourCCs the page's MSE can play (`None`: whatever the remuxer writes).
    playable: Option<Vec<[u8; 4]>>,
    /// Tracks found to carry a codec the page cannot play, since the last reset: they are
    /// kept from the remuxer, so the other track plays on its own.
    unplayable: (bool, bool),
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline::new()
    }
}

impl Pipeline {
    pub fn new() -> Self {
        Pipeline {
            remuxer: Remuxer::new(RemuxConfig::default()),
            timeline: 0,
            last_audio: None,
            last_video: None,
            reported_invalid: false,
            reported_unsupported: false,
            dirty: false,
            newest: None,
            stash: Vec::new(),
            receive: (true, true),
            announced: None,
            receive_changed: false,
            playable: None,
            unplayable: (false, false),
        }
    }

    /// A pipeline for a page whose MSE plays only these FourCCs (`avc1` and `mp4a` stand for
    /// legacy AVC and AAC too).
    pub fn with_playable(playable: Option<Vec<[u8; 4]>>) -> Self {
        Pipeline {
            playable,
            ..Pipeline::new()
        }
    }

    /// Forgets timing and starts a new timeline (play, seek, a stream that restarts). Segments
    /// the remuxer still had ready keep the old timeline's label.
    pub fn reset(&mut self) {
        self.collect_into_stash();
        self.remuxer.reset();
        self.timeline = self.timeline.wrapping_add(1);
        self.last_audio = None;
        self.last_video = None;
        self.reported_invalid = false;
        self.reported_unsupported = false;
        self.newest = None;
        if std::mem::take(&mut self.unplayable) != (false, false) {
            self.apply_expectation();
        }
        if std::mem::take(&mut self.receive_changed) {
            self.apply_expectation();
        }
    }

    /// Which tracks the stream has (onMetaData, an FLV header).
    pub fn announce(&mut self, audio: bool, video: bool) {
        self.announced = Some((audio, video));
        self.apply_expectation();
    }

    /// receiveAudio/receiveVideo: which tracks the player wants from the next timeline on.
    pub fn set_receive(&mut self, audio: bool, video: bool) {
        self.receive = (audio, video);
        self.receive_changed = true;
    }

    /// The tracks to wait for before the first segment: those announced and wanted, so a
    /// single-track stream (or one with a track turned off) starts at once.
    fn apply_expectation(&mut self) {
        let (audio, video) = self.announced.unwrap_or((true, true));
        self.remuxer.expect_tracks(
            audio && self.receive.0 && !self.unplayable.0,
            video && self.receive.1 && !self.unplayable.1,
        );
        self.dirty = true;
    }

    /// Reads hasAudio/hasVideo, or failing those the codec ids, from an onMetaData object.
    pub fn metadata(&mut self, meta: &Value) {
        let flag = |has: &str, codec: &str| {
            meta.get(has)
                .and_then(Value::as_bool)
                .or_else(|| meta.get(codec).map(|_| true))
        };
        let audio = flag("hasAudio", "audiocodecid");
        let video = flag("hasVideo", "videocodecid");
        if audio.is_some() || video.is_some() {
            self.announce(audio.unwrap_or(false), video.unwrap_or(false));
        }
    }

    /// Feeds one FLV audio or video tag body (shared, not copied, until its fragment is
    /// written). A rejected tag becomes (at most) one error event.
    pub fn push(
        &mut self,
        track: Track,
        timestamp: u32,
        body: &Bytes,
        errors: &mut Vec<RemuxError>,
    ) {
        let last = match track {
            Track::Audio => &mut self.last_audio,
            Track::Video => &mut self.last_video,
        };
        if last.is_some_and(|last| last.saturating_sub(timestamp) > BACKWARD_JUMP_MS) {
            // What the old timeline still holds goes out whole, then it starts over.
            self.remuxer.flush(true);
            self.reset();
        }
        let last = match track {
            Track::Audio => &mut self.last_audio,
            Track::Video => &mut self.last_video,
        };
        *last = Some(timestamp);
        self.newest = Some(self.newest.map_or(timestamp, |n| n.max(timestamp)));
        if let Some(codec) = self.unplayable_codec(track, body) {
            let flag = match track {
                Track::Audio => &mut self.unplayable.0,
                Track::Video => &mut self.unplayable.1,
            };
            if !std::mem::replace(flag, true) {
                // Reported once per track and timeline; the other track starts without it.
                errors.push(RemuxError::UnsupportedCodec { codec });
                self.apply_expectation();
            }
            return;
        }
        let result = match track {
            Track::Audio => self.remuxer.push_audio_bytes(timestamp, body.clone()),
            Track::Video => self.remuxer.push_video_bytes(timestamp, body.clone()),
        };
        self.dirty = true;
        if let Err(e) = result {
            let first = if e.is_unsupported_codec() {
                !std::mem::replace(&mut self.reported_unsupported, true)
            } else {
                !std::mem::replace(&mut self.reported_invalid, true)
            };
            if first {
                errors.push(e);
            }
        }
    }

    /// The codec of this tag's (default) track if the page cannot play it.
    fn unplayable_codec(&self, track: Track, body: &[u8]) -> Option<Codec> {
        let playable = self.playable.as_ref()?;
        let codec = match track {
            Track::Video => {
                let info = tag::parse_video_tag(body).ok()?;
                Codec::Video(info.track(body, 0)?.codec)
            }
            Track::Audio => {
                let info = tag::parse_audio_tag(body).ok()?;
                Codec::Audio(info.track(body, 0)?.codec)
            }
        };
        let fourcc = match codec {
            Codec::Video(c) => c.fourcc(),
            Codec::Audio(c) => c.fourcc(),
        };
        // A command frame names no codec; legacy codecs without a FourCC are the remuxer's
        // to refuse.
        let fourcc = fourcc?;
        (!playable.contains(&fourcc)).then_some(codec)
    }

    /// Ends the stream: the held-back samples are written too.
    pub fn end(&mut self) {
        self.remuxer.flush(true);
        self.dirty = true;
    }

    /// Everything the remuxer has ready, in append order. Consecutive media segments are
    /// concatenated (a SourceBuffer accepts moof+mdat pairs back to back), so a batch costs one
    /// `appendBuffer`.
    pub fn drain(&mut self) -> Vec<Segment> {
        if self.dirty {
            self.dirty = false;
            self.remuxer.flush(false);
            self.collect_into_stash();
        }
        std::mem::take(&mut self.stash)
    }

    /// Moves the remuxer's ready output to the stash, labelled with the current timeline.
    fn collect_into_stash(&mut self) {
        let timeline = self.timeline;
        let out = &mut self.stash;
        while let Some(output) = self.remuxer.poll_output() {
            match output {
                RemuxOutput::Init {
                    mime,
                    data,
                    has_audio,
                    has_video,
                    width,
                    height,
                } => out.push(Segment::Init {
                    timeline,
                    mime,
                    data,
                    has_audio,
                    has_video,
                    width,
                    height,
                }),
                RemuxOutput::Media {
                    data,
                    start_ms,
                    end_ms,
                    has_keyframe,
                } => {
                    // Within one timeline, consecutive media segments merge.
                    if let Some(Segment::Media {
                        data: bytes,
                        end_ms: end,
                        keyframe,
                        ..
                    }) = out.last_mut().filter(
                        |s| matches!(s, Segment::Media { timeline: t, .. } if *t == timeline),
                    ) {
                        bytes.extend_from_slice(&data);
                        *end = end.max(end_ms);
                        *keyframe |= has_keyframe;
                    } else {
                        out.push(Segment::Media {
                            timeline,
                            data,
                            start_ms,
                            end_ms,
                            base_ms: self.remuxer.timeline_base_ms().map_or(0.0, f64::from),
                            keyframe: has_keyframe,
                            newest_ms: self.newest,
                        });
                    }
                }
            }
        }
    }

    /// [`Pipeline::drain`] as JS events on `out`.
    pub fn drain_into(&mut self, stream_id: u32, out: &Array) {
        for segment in self.drain() {
            out.push(&segment.into_event(stream_id));
        }
    }
}

/// What the pipeline hands to the page's SourceBuffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// An init segment; `timeline` changes after every reset.
    Init {
        timeline: u32,
        mime: String,
        data: Vec<u8>,
        has_audio: bool,
        has_video: bool,
        width: u32,
        height: u32,
    },
    /// One or more media segments; times in ms on the timeline, `base_ms` maps them to stream
    /// time, `newest_ms` is the newest stream timestamp received (for latency estimates).
    Media {
        timeline: u32,
        data: Vec<u8>,
        start_ms: f64,
        end_ms: f64,
        base_ms: f64,
        keyframe: bool,
        newest_ms: Option<u32>,
    },
}

#[wasm_bindgen(module = "/src/events.js")]
extern "C" {
    #[wasm_bindgen(js_name = mediaEvent)]
    #[allow(clippy::too_many_arguments)]
    fn media_event(
        stream_id: u32,
        timeline: u32,
        head: &[u8],
        body: &[u8],
        start_ms: f64,
        end_ms: f64,
        base_ms: f64,
        keyframe: bool,
        newest_ms: f64,
    ) -> JsValue;
    #[wasm_bindgen(js_name = initEvent)]
    #[allow(clippy::too_many_arguments)]
    fn init_event(
        stream_id: u32,
        timeline: u32,
        mime: &str,
        data: &[u8],
        has_audio: bool,
        has_video: bool,
        width: u32,
        height: u32,
    ) -> JsValue;
}

impl Segment {
    /// `{type: 'init', ...}` or `{type: 'media', ...}` with the bytes copied into a Uint8Array
    /// (built by `events.js` in one call).
    pub fn into_event(self, stream_id: u32) -> JsValue {
        match self {
            Segment::Init {
                timeline,
                mime,
                data,
                has_audio,
                has_video,
                width,
                height,
            } => init_event(
                stream_id, timeline, &mime, &data, has_audio, has_video, width, height,
            ),
            Segment::Media {
                timeline,
                data,
                start_ms,
                end_ms,
                base_ms,
                keyframe,
                newest_ms,
            } => media_event(
                stream_id,
                timeline,
                &data,
                &[],
                start_ms,
                end_ms,
                base_ms,
                keyframe,
                newest_ms.map_or(-1.0, f64::from),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An AVC sequence header tag body (x264, 64x48, High profile) and an AAC one (LC, 44.1 kHz
    /// mono), as ffmpeg writes them.
    const AVC_HEADER: &str = "17000000000164000affe100186764000aacd9447b0110000003001000000303c0f122596001000668ebe3cb22c0fdf8f800";
    const AAC_HEADER: &str = "af00120856e500";

    fn hex(s: &str) -> Bytes {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
            .collect()
    }

    /// A video tag body with one (structurally valid) NALU.
    fn frame(key: bool) -> Bytes {
        Bytes::from(vec![
            if key { 0x17 } else { 0x27 },
            1,
            0,
            0,
            0,
            0,
            0,
            0,
            2,
            0x65,
            0x88,
        ])
    }

    fn aac_frame() -> Bytes {
        Bytes::from_static(&[0xaf, 1, 0x21, 0x10, 0x04])
    }

    fn feed(pipeline: &mut Pipeline, from_ms: u32, count: u32) -> Vec<RemuxError> {
        let mut errors = Vec::new();
        for i in 0..count {
            let ts = from_ms + i * 33;
            pipeline.push(Track::Video, ts, &frame(i % 30 == 0), &mut errors);
            pipeline.push(Track::Audio, ts, &aac_frame(), &mut errors);
        }
        errors
    }

    fn start(pipeline: &mut Pipeline) {
        let mut errors = Vec::new();
        pipeline.push(Track::Audio, 0, &hex(AAC_HEADER), &mut errors);
        pipeline.push(Track::Video, 0, &hex(AVC_HEADER), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn a_stream_becomes_one_init_then_batched_media() {
        let mut pipeline = Pipeline::new();
        start(&mut pipeline);
        assert!(feed(&mut pipeline, 0, 10).is_empty());
        let segments = pipeline.drain();
        assert_eq!(segments.len(), 2, "{segments:?}");
        let Segment::Init {
            mime,
            has_audio,
            has_video,
            width,
            height,
            ..
        } = &segments[0]
        else {
            panic!("first is not init: {segments:?}")
        };
        assert_eq!(mime, "video/mp4; codecs=\"avc1.64000a,mp4a.40.2\"");
        assert!(*has_audio && *has_video);
        assert_eq!((*width, *height), (64, 48));
        let Segment::Media {
            keyframe,
            start_ms,
            end_ms,
            newest_ms,
            ..
        } = &segments[1]
        else {
            panic!("second is not media: {segments:?}")
        };
        assert!(*keyframe);
        assert_eq!(*start_ms, 0.0);
        assert!(*end_ms > 250.0, "{end_ms}");
        assert_eq!(*newest_ms, Some(9 * 33));
        // Nothing new: nothing out.
        assert!(pipeline.drain().is_empty());
    }

    #[test]
    fn a_garbage_sequence_header_is_reported_once() {
        let mut pipeline = Pipeline::new();
        let mut errors = Vec::new();
        let garbage = [
            0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0x00, 0x40, 0xde,
        ];
        let garbage = Bytes::copy_from_slice(&garbage);
        for _ in 0..5 {
            pipeline.push(Track::Video, 0, &garbage, &mut errors);
        }
        assert_eq!(errors.len(), 1);
        assert!(!errors[0].is_unsupported_codec());
        // A reset (new play) reports again.
        pipeline.reset();
        pipeline.push(Track::Video, 0, &garbage, &mut errors);
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn an_unplayable_codec_is_reported_as_unsupported() {
        let mut pipeline = Pipeline::new();
        pipeline.announce(true, false);
        let mut errors = Vec::new();
        // MP3 audio (sound format 2), the only track.
        for i in 0..3 {
            let mp3 = Bytes::from_static(&[0x2f, 0xff, 0xfb, 0x90]);
            pipeline.push(Track::Audio, i * 26, &mp3, &mut errors);
        }
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].is_unsupported_codec());
    }

    #[test]
    fn a_backward_jump_starts_a_new_timeline() {
        let mut pipeline = Pipeline::new();
        start(&mut pipeline);
        feed(&mut pipeline, 60_000, 40);
        let first = pipeline.drain();
        let timeline_of = |segments: &[Segment]| match segments.last() {
            Some(Segment::Media { timeline, .. }) => Some(*timeline),
            _ => None,
        };
        let before = timeline_of(&first).unwrap_or(u32::MAX);
        // The publisher restarts at 0 and resends its sequence headers.
        start(&mut pipeline);
        feed(&mut pipeline, 0, 40);
        let second = pipeline.drain();
        let after = timeline_of(&second).unwrap_or(u32::MAX);
        assert_ne!(before, after);
        // The old timeline's held-back samples come first, still labelled old.
        assert!(
            matches!(second.first(), Some(Segment::Media { timeline, .. }) if *timeline == before)
        );
        match second
            .iter()
            .find(|s| matches!(s, Segment::Media { timeline, .. } if *timeline == after))
        {
            Some(Segment::Media { start_ms, .. }) => assert_eq!(*start_ms, 0.0),
            other => panic!("no media after the restart: {other:?}"),
        }
    }

    #[test]
    fn metadata_announces_the_tracks() {
        let mut pipeline = Pipeline::new();
        pipeline.metadata(&Value::EcmaArray(vec![
            ("width".into(), Value::Number(64.0)),
            ("videocodecid".into(), Value::Number(7.0)),
        ]));
        let mut errors = Vec::new();
        pipeline.push(Track::Video, 0, &hex(AVC_HEADER), &mut errors);
        pipeline.push(Track::Video, 0, &frame(true), &mut errors);
        pipeline.push(Track::Video, 33, &frame(false), &mut errors);
        // Video only, announced: the init does not wait for audio.
        let segments = pipeline.drain();
        assert!(
            matches!(
                segments.first(),
                Some(Segment::Init {
                    has_audio: false,
                    has_video: true,
                    ..
                })
            ),
            "{segments:?}"
        );
    }

    /// An HEVC sequence start (hvc1, as FFmpeg writes it) and an Opus one (OpusHead, stereo).
    fn hevc_header() -> Bytes {
        let mut body = vec![0x90, b'h', b'v', b'c', b'1'];
        body.extend_from_slice(&[
            1, 1, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x5d, 0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0,
            0x0f, 0,
        ]);
        Bytes::from(body)
    }

    fn opus_header() -> Bytes {
        let mut body = vec![0x90, b'O', b'p', b'u', b's'];
        body.extend_from_slice(b"OpusHead");
        body.extend_from_slice(&[1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0]);
        Bytes::from(body)
    }

    fn opus_frame() -> Bytes {
        // TOC 0xfc: CELT fullband 20 ms, one frame.
        Bytes::from_static(&[0x91, b'O', b'p', b'u', b's', 0xfc, 0xff, 0xfe])
    }

    fn hevc_frame(key: bool) -> Bytes {
        let mut body = vec![if key { 0x93 } else { 0xa3 }, b'h', b'v', b'c', b'1'];
        body.extend_from_slice(&[0, 0, 0, 3, 0x26, 0x01, 0xaf]);
        Bytes::from(body)
    }

    #[test]
    fn an_unplayable_video_codec_leaves_the_audio_playing() {
        let playable = [*b"avc1", *b"av01", *b"vp09", *b"mp4a", *b"Opus", *b"fLaC"];
        let mut pipeline = Pipeline::with_playable(Some(playable.to_vec()));
        pipeline.metadata(&Value::EcmaArray(vec![
            ("videocodecid".into(), Value::from("hvc1")),
            ("audiocodecid".into(), Value::from("Opus")),
        ]));
        let mut errors = Vec::new();
        pipeline.push(Track::Video, 0, &hevc_header(), &mut errors);
        pipeline.push(Track::Audio, 0, &opus_header(), &mut errors);
        for i in 0..20 {
            pipeline.push(Track::Video, i * 33, &hevc_frame(i == 0), &mut errors);
            pipeline.push(Track::Audio, i * 20, &opus_frame(), &mut errors);
        }
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].is_unsupported_codec());
        assert!(errors[0].to_string().contains("hvc1"), "{}", errors[0]);
        let segments = pipeline.drain();
        match segments.first() {
            Some(Segment::Init {
                mime,
                has_audio: true,
                has_video: false,
                ..
            }) => assert_eq!(mime, "audio/mp4; codecs=\"opus\""),
            other => panic!("no audio-only init: {other:?}"),
        }
        assert!(segments.iter().any(|s| matches!(s, Segment::Media { .. })));
        // The next timeline reports it again (a new play of the same stream).
        pipeline.reset();
        pipeline.push(Track::Video, 0, &hevc_frame(true), &mut errors);
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn without_a_playable_list_the_remuxer_decides() {
        let mut pipeline = Pipeline::new();
        let mut errors = Vec::new();
        // Frames before their sequence header are the remuxer's to drop, silently.
        pipeline.push(Track::Video, 0, &hevc_frame(true), &mut errors);
        pipeline.push(Track::Video, 33, &hevc_frame(false), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let mut pipeline = Pipeline::with_playable(Some(vec![*b"avc1", *b"Opus"]));
        let mut errors = Vec::new();
        let mut seed = 0x2545_f491_u32;
        for i in 0..2000u32 {
            let len = (seed % 40) as usize;
            let body: Bytes = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            let track = if i % 2 == 0 {
                Track::Video
            } else {
                Track::Audio
            };
            pipeline.push(track, seed % 5000, &body, &mut errors);
            if i % 50 == 0 {
                let _ = pipeline.drain();
            }
        }
        pipeline.end();
        let _ = pipeline.drain();
    }
}
