//! FLV audio/video tag bodies in, fragmented MP4 for one MSE `SourceBuffer` out.
//!
//! # What a caller must know
//!
//! - **Codecs**: video AVC (legacy or `avc1`), HEVC (`hvc1`), AV1 (`av01`), VP9 (`vp09`);
//!   audio AAC (legacy or `mp4a`), Opus, FLAC. Sample entries `avc1`+`avcC`, `hvc1`+`hvcC`,
//!   `av01`+`av1C`, `vp09`+`vpcC`, `mp4a`+`esds`, `Opus`+`dOps`, `fLaC`+`dfLa`; the `Init`
//!   output carries the MSE codec string. Sync samples are the tags
//!   [`VideoTagInfo::is_keyframe`](crate::tag::VideoTagInfo::is_keyframe) says are keyframes;
//!   every audio frame is a sync sample.
//! - **Tracks**: one audio and one video track. In a multitrack stream the remuxer takes the
//!   tracks with ids [`RemuxConfig::video_track`] and [`RemuxConfig::audio_track`] (0, the
//!   default track, unless set) and ignores the others; messages without multitrack are
//!   track 0.
//! - **Timescales**: video 1000 (FLV milliseconds are then exact, composition offsets
//!   included); audio = the AAC core sample rate (one raw frame = `frame_length` units), 48000
//!   for Opus (a packet's duration comes from its TOC byte), the STREAMINFO rate for FLAC (a
//!   frame's duration is its header's block size).
//! - **Timeline**: decode time = FLV timestamp - base, where base is the smallest first
//!   timestamp among the queued tracks when the first fragment after [`Remuxer::new`] or
//!   [`Remuxer::reset`] is built (same base for both tracks, so A/V stay aligned; earlier
//!   timestamps clamp to 0). [`Remuxer::timeline_base_ms`] tells the caller the base. Audio
//!   decode times advance by whole frames and re-anchor to the FLV timestamp when the two
//!   differ by more than one frame. Each track's timeline never goes backwards: backward or
//!   equal timestamps get 1-unit durations until the stream catches up (a stream that jumps
//!   back by seconds needs a `reset()`). A jump forward of more than
//!   [`RemuxConfig::gap_threshold_ms`] ends the fragment and the next one starts at the later
//!   time, leaving a hole in the buffered ranges; smaller jumps stretch the previous sample.
//! - **Init segments**: one is emitted as soon as the track set is known: both sequence
//!   headers seen, or the tracks announced by [`Remuxer::expect_tracks`] seen, or one kind of
//!   frames spanning [`RemuxConfig::track_wait_ms`] (or `expected_track_wait_ms` for a track
//!   that was announced but never configured) of timestamps. Frames that arrive meanwhile are
//!   queued, not lost. A different sequence header mid-stream flushes what is queued and emits
//!   a new `Init` before the next `Media`. A track that shows up after the init was written is
//!   ignored, because a `SourceBuffer` cannot gain tracks; use a new `Remuxer` (and
//!   `SourceBuffer`) for that.
//! - **Held-back samples**: a sample's duration is only known when the next one arrives, so
//!   [`Remuxer::flush`] keeps the newest sample of each track unless `end_of_stream`.
//! - **Dropped input**: frames before their track's sequence header, video before the first
//!   keyframe (after `new()`, `reset()` or a codec change), empty frames, AVC end-of-sequence
//!   and command frames, sequence ends, video metadata, audio multichannel configs, AV1
//!   temporal delimiters (sliced off the front of a temporal unit, as MP4 requires), and
//!   anything for a track that is not in the current init (or not the selected track id).
//! - **Errors** never leave the remuxer in a broken state: the offending tag is dropped and
//!   later tags are processed normally. [`RemuxError::UnsupportedCodec`] means no playable
//!   track is left (NetStream.Play.NoSupportedTrackFound); any other error means a malformed
//!   tag (NetStream.Play.FileStructureInvalid). An unsupported codec on one track while the
//!   other track is (or may still become) playable is not an error: that track is ignored.

mod boxes;

use std::collections::VecDeque;

use bytes::Bytes;
use thiserror::Error;

use crate::aac::{AacError, AudioSpecificConfig};
use crate::av1::{self, Av1Config, Av1Error};
use crate::avc::{AvcDecoderConfig, AvcError};
use crate::flac::{self, FlacError, FlacStreamInfo};
use crate::hevc::{HevcDecoderConfig, HevcError};
use crate::opus::{self, OpusConfig, OpusError};
use crate::reader::ByteReader;
use crate::tag::{self, AudioCodec, AudioPacketType, TagBodyError, VideoCodec, VideoPacketType};
use crate::vp9::{self, Vp9Config, Vp9Error};
use boxes::{AudioEntry, AudioInit, RunSample, TrackRun, VideoInit};

pub use crate::tag::{Codec, TrackKind};

/// Tuning knobs; the defaults suit live RTMP playback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemuxConfig {
    /// Without [`Remuxer::expect_tracks`], how many milliseconds of timestamps one kind of
    /// frames may span before the other track is given up and a single-track init is written.
    pub track_wait_ms: u32,
    /// The same for a track that `expect_tracks` announced but that never got a sequence
    /// header; longer, because metadata is usually right, but it does lie sometimes.
    pub expected_track_wait_ms: u32,
    /// A forward timestamp jump larger than this starts a new fragment at the later decode
    /// time instead of stretching the previous sample over the gap.
    pub gap_threshold_ms: u32,
    /// Upper bound on queued sample bytes; beyond it the remuxer decides the track set and
    /// flushes by itself so that hostile or stuck input cannot grow memory without limit.
    pub max_queued_bytes: usize,
    /// In a multitrack stream, the id of the video track to play (0: the default track).
    pub video_track: u8,
    /// In a multitrack stream, the id of the audio track to play.
    pub audio_track: u8,
}

impl Default for RemuxConfig {
    fn default() -> Self {
        RemuxConfig {
            track_wait_ms: 1000,
            expected_track_wait_ms: 5000,
            gap_threshold_ms: 1000,
            max_queued_bytes: 32 << 20,
            video_track: 0,
            audio_track: 0,
        }
    }
}

/// What [`Remuxer::poll_output`] hands to the `SourceBuffer`, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum RemuxOutput {
    /// An init segment (ftyp + moov). `mime` is the `addSourceBuffer`/`changeType` argument.
    Init {
        mime: String,
        data: Vec<u8>,
        has_audio: bool,
        has_video: bool,
        /// Display size from the codec configuration (or, for VP9, the first keyframe); 0
        /// without video.
        width: u32,
        height: u32,
    },
    /// One media segment (moof + mdat).
    Media {
        data: Vec<u8>,
        /// Decode-time span in ms on the remuxer's timeline (see [`Remuxer::timeline_base_ms`]):
        /// earliest start and latest end over the tracks in the segment.
        start_ms: f64,
        end_ms: f64,
        /// True if it contains a video keyframe, or audio in a stream without video: a point
        /// where playback can start.
        has_keyframe: bool,
    },
}

/// Why a tag was rejected. The remuxer stays usable after any of these.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RemuxError {
    /// No playable track is left: every track is absent or uses this codec (or another
    /// unsupported one). Supported: AVC, HEVC, AV1, VP9 video; AAC, Opus, FLAC audio.
    #[error(
        "unsupported {codec}; AVC, HEVC, AV1 and VP9 video and AAC, Opus and FLAC audio can be \
         played"
    )]
    UnsupportedCodec { codec: Codec },
    #[error("malformed video tag: {0}")]
    VideoTag(TagBodyError),
    #[error("malformed audio tag: {0}")]
    AudioTag(TagBodyError),
    #[error("bad AVC sequence header: {0}")]
    AvcConfig(AvcError),
    #[error("bad AAC sequence header: {0}")]
    AacConfig(AacError),
    #[error("bad HEVC sequence header: {0}")]
    HevcConfig(HevcError),
    #[error("bad AV1 sequence header: {0}")]
    Av1Config(Av1Error),
    #[error("bad VP9 sequence header: {0}")]
    Vp9Config(Vp9Error),
    #[error("bad Opus sequence header: {0}")]
    OpusConfig(OpusError),
    #[error("bad FLAC sequence header: {0}")]
    FlacConfig(FlacError),
    #[error(
        "video frame at {timestamp_ms} ms: NALU at payload byte {offset} declares {declared} \
         bytes but only {remaining} follow"
    )]
    NaluOverrun {
        timestamp_ms: u32,
        offset: usize,
        declared: u32,
        remaining: usize,
    },
    #[error(
        "video frame at {timestamp_ms} ms: payload ends inside the {length_size}-byte NALU \
         length at byte {offset}"
    )]
    NaluLengthTruncated {
        timestamp_ms: u32,
        offset: usize,
        length_size: u8,
    },
}

impl RemuxError {
    /// True for [`RemuxError::UnsupportedCodec`] (NetStream.Play.NoSupportedTrackFound); every
    /// other error is malformed input (NetStream.Play.FileStructureInvalid).
    pub fn is_unsupported_codec(&self) -> bool {
        matches!(self, RemuxError::UnsupportedCodec { .. })
    }
}

/// How a video codec's samples are checked and trimmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VideoFormat {
    /// AVC or HEVC: length-prefixed NAL units.
    Nalus { length_size: u8 },
    /// AV1: OBUs; temporal delimiters are sliced off.
    Av1,
    /// VP9: the frame size is learnt from the first keyframe.
    Vp9,
}

struct VideoConfig {
    /// The sequence start payload, to recognise a resent one.
    record: Vec<u8>,
    /// Sample entry and configuration box types, and that box's payload.
    entry: [u8; 4],
    config_box: [u8; 4],
    config: Vec<u8>,
    codec: String,
    width: u32,
    height: u32,
    format: VideoFormat,
}

impl VideoConfig {
    /// VP9 records carry no frame size; the init waits for a keyframe to tell it.
    fn complete(&self) -> bool {
        self.format != VideoFormat::Vp9 || self.width > 0
    }
}

/// How an audio codec's frame durations are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AudioFormat {
    Aac { frame_length: u32 },
    Opus,
    Flac { default_block: u32 },
}

enum AudioBox {
    Esds(Vec<u8>),
    DOps(Vec<u8>),
    DfLa(Vec<u8>),
}

struct AudioConfig {
    /// The sequence start payload, to recognise a resent one.
    raw: Vec<u8>,
    codec: String,
    /// The track's timescale.
    sample_rate: u32,
    channels: u16,
    sample_size: u16,
    config: AudioBox,
    format: AudioFormat,
}

impl AudioConfig {
    /// The duration of one frame in track units: from the frame when the codec says,
    /// otherwise the codec's usual frame length.
    fn frame_duration(&self, payload: &[u8]) -> u32 {
        match self.format {
            AudioFormat::Aac { frame_length } => frame_length,
            AudioFormat::Opus => opus::packet_duration(payload).unwrap_or(960),
            AudioFormat::Flac { default_block } => {
                flac::frame_block_size(payload).unwrap_or(default_block)
            }
        }
    }

    fn default_duration(&self) -> u32 {
        match self.format {
            AudioFormat::Aac { frame_length } => frame_length,
            AudioFormat::Opus => 960,
            AudioFormat::Flac { default_block } => default_block,
        }
    }
}

#[derive(Debug, Clone)]
struct Sample {
    /// FLV timestamp, ms.
    ts: u32,
    /// Decode time in track units, valid for `samples[..assigned]`.
    dts: u64,
    size: u32,
    composition_offset: i32,
    sync: bool,
    /// Audio: the frame's own duration in track units (0 for video, whose durations come from
    /// the timestamps).
    nominal: u32,
    /// The payload, shared with the tag it came from (no copy until the fragment is written).
    data: Bytes,
}

/// What one track contributes to the fragment being built.
#[derive(Debug, Clone, Copy, Default)]
struct Plan {
    count: usize,
    bytes: usize,
    start: u64,
    end: u64,
    last_duration: Option<u32>,
}

#[derive(Default)]
struct Track {
    /// From `expect_tracks`: `Some(false)` means do not wait for this track.
    expected: Option<bool>,
    /// Set when this track's tags use a codec we cannot play (before the init is written).
    unsupported: Option<Codec>,
    /// The config predates `reset()` and the new stream has not confirmed it yet.
    stale: bool,
    in_init: bool,
    need_keyframe: bool,
    /// Timestamp span of this track's frames since `new()`/`reset()`, for the track wait.
    first_ts: Option<u32>,
    last_ts: u32,
    samples: Vec<Sample>,
    /// Payload bytes of `samples`, the track's part of the next mdats.
    bytes: usize,
    assigned: usize,
    /// Decode time where the last emitted sample ended.
    next_decode: Option<u64>,
    last_duration: Option<u32>,
    /// Scratch for the trun being written; reused so fragments allocate only their output.
    run: Vec<RunSample>,
}

impl Track {
    fn note(&mut self, ts: u32) {
        if self.first_ts.is_none() {
            self.first_ts = Some(ts);
        }
        self.last_ts = ts;
    }

    fn span(&self) -> u32 {
        self.first_ts
            .map_or(0, |first| self.last_ts.saturating_sub(first))
    }

    fn clear_queue(&mut self) {
        self.samples.clear();
        self.bytes = 0;
        self.assigned = 0;
    }

    fn queued_bytes(&self) -> usize {
        self.bytes + self.samples.len() * std::mem::size_of::<Sample>()
    }

    fn push(&mut self, ts: u32, composition_offset: i32, sync: bool, nominal: u32, payload: Bytes) {
        self.bytes += payload.len();
        self.samples.push(Sample {
            ts,
            dts: 0,
            size: u32::try_from(payload.len()).unwrap_or(u32::MAX),
            composition_offset,
            sync,
            nominal,
            data: payload,
        });
    }

    /// Appends the payloads of the next `count` samples (a plan's) to `out`.
    fn write_payloads(&self, count: usize, out: &mut Vec<u8>) {
        for s in self.samples.iter().take(count) {
            out.extend_from_slice(&s.data);
        }
    }

    /// Chooses the samples for the next fragment and fills `run` with their durations.
    ///
    /// `learn` lets observed durations replace `fallback` for the held-back/last sample (video);
    /// audio frames have a fixed duration, so audio passes `false`.
    fn plan(&mut self, end_of_stream: bool, gap: u64, fallback: u32, learn: bool) -> Plan {
        self.run.clear();
        let Some(first) = self.samples.first() else {
            return Plan::default();
        };
        let start = self.next_decode.map_or(first.dts, |end| first.dts.max(end));
        let mut plan = Plan {
            start,
            end: start,
            last_duration: self.last_duration,
            ..Plan::default()
        };
        let fallback_now = |plan: &Plan, s: &Sample| {
            if learn {
                plan.last_duration.unwrap_or(fallback)
            } else if s.nominal > 0 {
                s.nominal
            } else {
                fallback
            }
        };
        let assigned = self.assigned.min(self.samples.len());
        let samples = self.samples.get(..assigned).unwrap_or_default();
        for (i, s) in samples.iter().enumerate() {
            let mut split = false;
            let duration = match samples.get(i + 1) {
                Some(next) => {
                    let delta = next.dts.saturating_sub(plan.end);
                    if delta > gap {
                        split = true;
                        fallback_now(&plan, s)
                    } else if delta == 0 {
                        1
                    } else {
                        let d = u32::try_from(delta).unwrap_or(u32::MAX);
                        if learn {
                            plan.last_duration = Some(d);
                        }
                        d
                    }
                }
                None if end_of_stream => fallback_now(&plan, s),
                None => break,
            };
            self.run.push(RunSample {
                duration,
                size: s.size,
                sync: s.sync,
                composition_offset: s.composition_offset,
            });
            plan.count += 1;
            plan.bytes += s.size as usize;
            plan.end = plan.end.saturating_add(u64::from(duration));
            if split {
                break;
            }
        }
        plan
    }

    fn commit(&mut self, plan: &Plan) {
        if plan.count == 0 {
            return;
        }
        self.next_decode = Some(plan.end);
        self.last_duration = plan.last_duration;
        self.samples.drain(..plan.count.min(self.samples.len()));
        self.bytes = self.bytes.saturating_sub(plan.bytes);
        self.assigned = self.assigned.saturating_sub(plan.count);
    }

    fn reset(&mut self, has_config: bool) {
        self.clear_queue();
        self.unsupported = None;
        self.stale = has_config;
        self.in_init = false;
        self.need_keyframe = true;
        self.first_ts = None;
        self.last_ts = 0;
        self.next_decode = None;
        self.last_duration = None;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TrackStatus {
    Ready,
    Gone,
    Waiting,
}

/// Used for a video sample whose duration cannot be learned (a one-frame stream): ~30 fps.
const DEFAULT_VIDEO_DURATION: u32 = 33;

/// The FLV-to-fMP4 remuxer; see the module docs for its timing and init rules.
pub struct Remuxer {
    config: RemuxConfig,
    video_config: Option<VideoConfig>,
    audio_config: Option<AudioConfig>,
    video: Track,
    audio: Track,
    initialized: bool,
    /// The last init segment emitted, so that a `reset()` with unchanged codecs does not
    /// produce a redundant one.
    last_init: Option<Vec<u8>>,
    base: Option<u32>,
    /// Decode time the next AAC frame would have if frames were contiguous.
    audio_next_dts: Option<u64>,
    sequence: u32,
    output: VecDeque<RemuxOutput>,
}

impl Remuxer {
    pub fn new(config: RemuxConfig) -> Self {
        let mut remuxer = Remuxer {
            config,
            video_config: None,
            audio_config: None,
            video: Track::default(),
            audio: Track::default(),
            initialized: false,
            last_init: None,
            base: None,
            audio_next_dts: None,
            sequence: 0,
            output: VecDeque::new(),
        };
        remuxer.video.reset(false);
        remuxer.audio.reset(false);
        remuxer
    }

    /// Tells the remuxer which tracks to expect (from onMetaData hasAudio/hasVideo or
    /// audiocodecid/videocodecid), so a single-track stream does not wait
    /// `track_wait_ms` and a two-track stream does not start without its late sequence header.
    /// Only affects an init segment not yet written; it survives `reset()`.
    pub fn expect_tracks(&mut self, audio: bool, video: bool) {
        self.audio.expected = Some(audio);
        self.video.expected = Some(video);
        // Errors resurface on the next push, which is where the caller handles them.
        let _ = self.try_init(false);
    }

    /// Feeds one video tag body (an RTMP video message payload).
    pub fn push_video(&mut self, timestamp_ms: u32, body: &[u8]) -> Result<(), RemuxError> {
        self.push_video_bytes(timestamp_ms, Bytes::copy_from_slice(body))
    }

    /// [`Remuxer::push_video`] for a body the caller already holds as `Bytes`: the frame is
    /// queued without copying until its fragment is written.
    pub fn push_video_bytes(&mut self, timestamp_ms: u32, body: Bytes) -> Result<(), RemuxError> {
        let info = tag::parse_video_tag(&body).map_err(RemuxError::VideoTag)?;
        if info.is_command() {
            return Ok(());
        }
        let Some(track) = info.track(&body, self.config.video_track) else {
            // Another rendition of a multitrack stream.
            return Ok(());
        };
        let supported = track.codec.is_avc()
            || matches!(
                track.codec,
                VideoCodec::HEVC | VideoCodec::AV1 | VideoCodec::VP9
            );
        if !supported {
            return self.unsupported(Codec::Video(track.codec), timestamp_ms);
        }
        let payload =
            body.slice(track.payload_offset.min(body.len())..track.payload_end.min(body.len()));
        match info.packet_type {
            Some(VideoPacketType::SequenceStart) => {
                self.video_sequence_header(track.codec, &payload)
            }
            Some(VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX) => self.video_frame(
                timestamp_ms,
                info.is_keyframe(),
                track.composition_time,
                payload,
            ),
            // Sequence ends, metadata and MPEG-2 TS descriptors carry no picture.
            _ => Ok(()),
        }
    }

    /// Feeds one audio tag body (an RTMP audio message payload).
    pub fn push_audio(&mut self, timestamp_ms: u32, body: &[u8]) -> Result<(), RemuxError> {
        self.push_audio_bytes(timestamp_ms, Bytes::copy_from_slice(body))
    }

    /// [`Remuxer::push_audio`] without copying the frame until its fragment is written.
    pub fn push_audio_bytes(&mut self, timestamp_ms: u32, body: Bytes) -> Result<(), RemuxError> {
        let info = tag::parse_audio_tag(&body).map_err(RemuxError::AudioTag)?;
        let Some(track) = info.track(&body, self.config.audio_track) else {
            return Ok(());
        };
        let supported =
            track.codec.is_aac() || matches!(track.codec, AudioCodec::OPUS | AudioCodec::FLAC);
        if !supported {
            return self.unsupported(Codec::Audio(track.codec), timestamp_ms);
        }
        let payload =
            body.slice(track.payload_offset.min(body.len())..track.payload_end.min(body.len()));
        match info.packet_type {
            AudioPacketType::SequenceStart => self.audio_sequence_header(track.codec, &payload),
            AudioPacketType::CodedFrames => self.audio_frame(timestamp_ms, payload),
            AudioPacketType::SequenceEnd | AudioPacketType::MultichannelConfig => Ok(()),
        }
    }

    /// Ends the current fragment: queued samples become a moof+mdat (the last sample of each
    /// track is held back until its duration is known, unless `end_of_stream`). Before the
    /// init segment is written this does nothing, except that `end_of_stream` settles the track
    /// set with whatever has been configured.
    pub fn flush(&mut self, end_of_stream: bool) {
        if !self.initialized && end_of_stream {
            // An error here means nothing is playable; the pushes already reported it.
            let _ = self.try_init(true);
        }
        self.emit_fragments(end_of_stream, end_of_stream);
    }

    /// Forget timing (after a seek or a new play): queued samples are dropped, the next
    /// samples start a new timeline with a new base, video waits for a keyframe, and the track
    /// set is decided again. Codec configs are kept for streams that do not resend sequence
    /// headers, but only count once the new stream confirms them (a sequence header or a
    /// frame); the next init segment is emitted only if it differs from the last one.
    pub fn reset(&mut self) {
        self.video.reset(self.video_config.is_some());
        self.audio.reset(self.audio_config.is_some());
        self.initialized = false;
        self.base = None;
        self.audio_next_dts = None;
    }

    /// The next init or media segment, in the order they must be appended.
    pub fn poll_output(&mut self) -> Option<RemuxOutput> {
        self.output.pop_front()
    }

    /// The FLV timestamp that decode time 0 corresponds to, once the first fragment of the
    /// current timeline has been built. Add it to `start_ms`/`end_ms` to get stream time.
    pub fn timeline_base_ms(&self) -> Option<u32> {
        self.base
    }

    /// Whether an init segment for the current timeline has been decided.
    pub fn is_initialized(&self) -> bool {
        self.initialized
    }

    /// Sample bytes waiting for a flush (or for the track set to be decided).
    pub fn queued_bytes(&self) -> usize {
        self.video.queued_bytes() + self.audio.queued_bytes()
    }

    fn track_mut(&mut self, kind: TrackKind) -> &mut Track {
        match kind {
            TrackKind::Audio => &mut self.audio,
            TrackKind::Video => &mut self.video,
        }
    }

    fn unsupported(&mut self, codec: Codec, timestamp_ms: u32) -> Result<(), RemuxError> {
        let kind = codec.track();
        let initialized = self.initialized;
        let track = self.track_mut(kind);
        track.note(timestamp_ms);
        if initialized {
            // The SourceBuffer already has this track and it cannot be fed any more.
            return if track.in_init {
                Err(RemuxError::UnsupportedCodec { codec })
            } else {
                Ok(())
            };
        }
        track.unsupported = Some(codec);
        track.clear_queue();
        match kind {
            TrackKind::Audio => self.audio_config = None,
            TrackKind::Video => self.video_config = None,
        }
        self.try_init(false)
    }

    fn video_sequence_header(
        &mut self,
        codec: VideoCodec,
        record: &[u8],
    ) -> Result<(), RemuxError> {
        if self
            .video_config
            .as_ref()
            .is_some_and(|c| c.record == record)
        {
            // Servers resend sequence headers (on play, on keyframes); same bytes, no change.
            self.video.stale = false;
            return self.try_init(false);
        }
        let mut config = video_config(codec, record)?;
        if let Some(old) = self.video_config.as_ref().filter(|_| !config.complete()) {
            // A new VP9 record says nothing about the size; keep the old one until a keyframe.
            config.width = old.width;
            config.height = old.height;
        }
        if self.initialized {
            if !self.video.in_init {
                return Ok(());
            }
            // Samples coded with the old parameters must reach the buffer before the new init.
            self.emit_fragments(true, false);
            self.video_config = Some(config);
            self.video.stale = false;
            self.video.need_keyframe = true;
            self.emit_init(self.video.in_init, self.audio.in_init);
            Ok(())
        } else {
            self.video.clear_queue();
            self.video.unsupported = None;
            self.video.stale = false;
            self.video.need_keyframe = true;
            self.video_config = Some(config);
            self.try_init(false)
        }
    }

    fn audio_sequence_header(&mut self, codec: AudioCodec, data: &[u8]) -> Result<(), RemuxError> {
        if self.audio_config.as_ref().is_some_and(|c| c.raw == data) {
            self.audio.stale = false;
            return self.try_init(false);
        }
        let config = audio_config(codec, data)?;
        if self.initialized {
            if !self.audio.in_init {
                return Ok(());
            }
            self.emit_fragments(false, true);
            // The timescale follows the sample rate: carry the track's end over to the new
            // units and let the frame counter re-anchor on the next timestamp.
            if let (Some(old), Some(end)) = (&self.audio_config, self.audio.next_decode) {
                let old_rate = u64::from(old.sample_rate.max(1));
                let scaled =
                    u128::from(end) * u128::from(config.sample_rate) / u128::from(old_rate);
                self.audio.next_decode = Some(u64::try_from(scaled).unwrap_or(u64::MAX));
            }
            self.audio_next_dts = None;
            self.audio_config = Some(config);
            self.audio.stale = false;
            self.emit_init(self.video.in_init, self.audio.in_init);
            Ok(())
        } else {
            self.audio.clear_queue();
            self.audio.unsupported = None;
            self.audio.stale = false;
            self.audio_config = Some(config);
            self.try_init(false)
        }
    }

    fn video_frame(
        &mut self,
        timestamp_ms: u32,
        sync: bool,
        composition_time: i32,
        mut payload: Bytes,
    ) -> Result<(), RemuxError> {
        self.video.note(timestamp_ms);
        if self.initialized && !self.video.in_init {
            return Ok(());
        }
        let Some(config) = &mut self.video_config else {
            return Ok(());
        };
        match config.format {
            VideoFormat::Nalus { length_size } => check_nalus(&payload, length_size, timestamp_ms)?,
            VideoFormat::Av1 => payload = payload.slice(av1::temporal_delimiter_len(&payload)..),
            VideoFormat::Vp9 => {}
        }
        if payload.is_empty() {
            return Ok(());
        }
        if self.video.need_keyframe {
            if !sync {
                return Ok(());
            }
            self.video.need_keyframe = false;
        }
        if config.format == VideoFormat::Vp9 && sync {
            if let Some((width, height)) = vp9::keyframe_size(&payload) {
                config.width = width;
                config.height = height;
            }
        }
        self.video.stale = false;
        self.video
            .push(timestamp_ms, composition_time, sync, 0, payload);
        self.after_push()
    }

    fn audio_frame(&mut self, timestamp_ms: u32, payload: Bytes) -> Result<(), RemuxError> {
        self.audio.note(timestamp_ms);
        if self.initialized && !self.audio.in_init {
            return Ok(());
        }
        let Some(config) = &self.audio_config else {
            return Ok(());
        };
        if payload.is_empty() {
            return Ok(());
        }
        let duration = config.frame_duration(&payload);
        self.audio.stale = false;
        self.audio.push(timestamp_ms, 0, true, duration, payload);
        self.after_push()
    }

    fn after_push(&mut self) -> Result<(), RemuxError> {
        self.try_init(false)?;
        if self.queued_bytes() > self.config.max_queued_bytes {
            self.try_init(true)?;
            self.emit_fragments(false, false);
        }
        Ok(())
    }

    fn track_status(&self, kind: TrackKind, elapsed: u32, force: bool) -> TrackStatus {
        let (track, configured) = match kind {
            TrackKind::Audio => (&self.audio, self.audio_config.is_some()),
            TrackKind::Video => (
                &self.video,
                self.video_config
                    .as_ref()
                    .is_some_and(VideoConfig::complete),
            ),
        };
        if configured && !track.stale {
            return TrackStatus::Ready;
        }
        if track.unsupported.is_some() {
            return TrackStatus::Gone;
        }
        let wait = match track.expected {
            Some(false) => return TrackStatus::Gone,
            Some(true) => self.config.expected_track_wait_ms,
            None => self.config.track_wait_ms,
        };
        if force || elapsed >= wait {
            TrackStatus::Gone
        } else {
            TrackStatus::Waiting
        }
    }

    /// Writes the init segment once every track is either configured or given up.
    fn try_init(&mut self, force: bool) -> Result<(), RemuxError> {
        if self.initialized {
            return Ok(());
        }
        let elapsed = self.video.span().max(self.audio.span());
        let video = self.track_status(TrackKind::Video, elapsed, force);
        let audio = self.track_status(TrackKind::Audio, elapsed, force);
        if video == TrackStatus::Waiting || audio == TrackStatus::Waiting {
            return Ok(());
        }
        let (with_video, with_audio) = (video == TrackStatus::Ready, audio == TrackStatus::Ready);
        if !with_video && !with_audio {
            return match self.video.unsupported.or(self.audio.unsupported) {
                Some(codec) => Err(RemuxError::UnsupportedCodec { codec }),
                None => Ok(()),
            };
        }
        self.emit_init(with_video, with_audio);
        Ok(())
    }

    fn emit_init(&mut self, with_video: bool, with_audio: bool) {
        let video = self.video_config.as_ref().filter(|_| with_video);
        let audio = self.audio_config.as_ref().filter(|_| with_audio);
        let data = boxes::write_init(
            video
                .map(|v| VideoInit {
                    entry: v.entry,
                    config_box: v.config_box,
                    config: &v.config,
                    width: v.width,
                    height: v.height,
                })
                .as_ref(),
            audio
                .map(|a| AudioInit {
                    entry: match &a.config {
                        AudioBox::Esds(asc) => AudioEntry::Mp4a { asc },
                        AudioBox::DOps(dops) => AudioEntry::Opus { dops },
                        AudioBox::DfLa(dfla) => AudioEntry::Flac { dfla },
                    },
                    sample_rate: a.sample_rate,
                    channels: a.channels,
                    sample_size: a.sample_size,
                })
                .as_ref(),
        );
        let mime = match (video, audio) {
            (Some(v), Some(a)) => format!("video/mp4; codecs=\"{},{}\"", v.codec, a.codec),
            (Some(v), None) => format!("video/mp4; codecs=\"{}\"", v.codec),
            (None, Some(a)) => format!("audio/mp4; codecs=\"{}\"", a.codec),
            (None, None) => String::new(),
        };
        let (width, height) = video.map_or((0, 0), |v| (v.width, v.height));
        let (has_video, has_audio) = (video.is_some(), audio.is_some());

        self.initialized = true;
        self.video.in_init = has_video;
        self.audio.in_init = has_audio;
        if !has_video {
            self.video.clear_queue();
        }
        if !has_audio {
            self.audio.clear_queue();
        }
        if self.last_init.as_deref() == Some(data.as_slice()) {
            return;
        }
        self.last_init = Some(data.clone());
        self.output.push_back(RemuxOutput::Init {
            mime,
            data,
            has_audio,
            has_video,
            width,
            height,
        });
    }

    /// Gives every queued sample a decode time; needs the base, so runs at fragment time.
    fn assign_decode_times(&mut self, base: u32) {
        let video = &mut self.video;
        for s in video.samples.get_mut(video.assigned..).unwrap_or_default() {
            s.dts = u64::from(s.ts.saturating_sub(base));
        }
        video.assigned = video.samples.len();

        let audio = &mut self.audio;
        let Some(config) = &self.audio_config else {
            audio.assigned = audio.samples.len();
            return;
        };
        let rate = u64::from(config.sample_rate);
        for s in audio.samples.get_mut(audio.assigned..).unwrap_or_default() {
            let frame = u64::from(s.nominal);
            let from_ts = u64::from(s.ts.saturating_sub(base)) * rate / 1000;
            let dts = match self.audio_next_dts {
                Some(expected) if expected.abs_diff(from_ts) <= frame => expected,
                _ => from_ts,
            };
            s.dts = dts;
            self.audio_next_dts = Some(dts.saturating_add(frame));
        }
        audio.assigned = audio.samples.len();
    }

    fn emit_fragments(&mut self, video_eos: bool, audio_eos: bool) {
        if !self.initialized {
            return;
        }
        let base = match self.base {
            Some(base) => base,
            None => {
                let first = |t: &Track| t.samples.first().map(|s| s.ts).filter(|_| t.in_init);
                match first(&self.video)
                    .into_iter()
                    .chain(first(&self.audio))
                    .min()
                {
                    Some(base) => *self.base.insert(base),
                    None => return,
                }
            }
        };
        self.assign_decode_times(base);

        let video_gap = u64::from(self.config.gap_threshold_ms);
        let (audio_rate, audio_frame) = self
            .audio_config
            .as_ref()
            .map_or((1000, 1024), |c| (c.sample_rate, c.default_duration()));
        let audio_gap = u64::from(self.config.gap_threshold_ms) * u64::from(audio_rate) / 1000;

        loop {
            let video_plan = self
                .video
                .plan(video_eos, video_gap, DEFAULT_VIDEO_DURATION, true);
            let audio_plan = self.audio.plan(audio_eos, audio_gap, audio_frame, false);
            if video_plan.count == 0 && audio_plan.count == 0 {
                break;
            }
            self.sequence = self.sequence.wrapping_add(1);
            let mut data = boxes::write_fragment(
                self.sequence,
                &[
                    TrackRun {
                        track_id: boxes::VIDEO_TRACK_ID,
                        is_video: true,
                        base_decode_time: video_plan.start,
                        samples: &self.video.run,
                        data_len: video_plan.bytes,
                    },
                    TrackRun {
                        track_id: boxes::AUDIO_TRACK_ID,
                        is_video: false,
                        base_decode_time: audio_plan.start,
                        samples: &self.audio.run,
                        data_len: audio_plan.bytes,
                    },
                ],
            );
            // mdat's payload: the runs' samples in trun order, video first.
            self.video.write_payloads(video_plan.count, &mut data);
            self.audio.write_payloads(audio_plan.count, &mut data);
            let to_ms = |t: u64, rate: u32| t as f64 * 1000.0 / f64::from(rate.max(1));
            let (mut start_ms, mut end_ms) = (f64::INFINITY, f64::NEG_INFINITY);
            for (plan, rate) in [
                (&video_plan, boxes::VIDEO_TIMESCALE),
                (&audio_plan, audio_rate),
            ] {
                if plan.count > 0 {
                    start_ms = start_ms.min(to_ms(plan.start, rate));
                    end_ms = end_ms.max(to_ms(plan.end, rate));
                }
            }
            let has_keyframe = self.video.run.iter().any(|s| s.sync)
                || (!self.video.in_init && audio_plan.count > 0);
            self.output.push_back(RemuxOutput::Media {
                data,
                start_ms,
                end_ms,
                has_keyframe,
            });
            self.video.commit(&video_plan);
            self.audio.commit(&audio_plan);
        }
    }
}

/// Validates a video sequence start and describes the sample entry it becomes.
fn video_config(codec: VideoCodec, record: &[u8]) -> Result<VideoConfig, RemuxError> {
    let base =
        |entry: &[u8; 4], config_box: &[u8; 4], config: Vec<u8>, codec: String| VideoConfig {
            record: record.to_vec(),
            entry: *entry,
            config_box: *config_box,
            config,
            codec,
            width: 0,
            height: 0,
            format: VideoFormat::Vp9,
        };
    Ok(match codec {
        VideoCodec::HEVC => {
            let parsed = HevcDecoderConfig::parse(record).map_err(RemuxError::HevcConfig)?;
            let sps = parsed.first_sps().map_err(RemuxError::HevcConfig)?;
            VideoConfig {
                width: sps.width,
                height: sps.height,
                format: VideoFormat::Nalus {
                    length_size: parsed.nalu_length_size,
                },
                ..base(b"hvc1", b"hvcC", record.to_vec(), parsed.codec_string())
            }
        }
        VideoCodec::AV1 => {
            let parsed = Av1Config::parse(record).map_err(RemuxError::Av1Config)?;
            VideoConfig {
                width: parsed.max_width.unwrap_or(0),
                height: parsed.max_height.unwrap_or(0),
                format: VideoFormat::Av1,
                ..base(b"av01", b"av1C", record.to_vec(), parsed.codec_string())
            }
        }
        VideoCodec::VP9 => {
            let parsed = Vp9Config::parse(record).map_err(RemuxError::Vp9Config)?;
            let codec = parsed.codec_string();
            base(b"vp09", b"vpcC", parsed.vpcc, codec)
        }
        _ => {
            let parsed = AvcDecoderConfig::parse(record).map_err(RemuxError::AvcConfig)?;
            let sps = parsed.first_sps().map_err(RemuxError::AvcConfig)?;
            VideoConfig {
                width: sps.width,
                height: sps.height,
                format: VideoFormat::Nalus {
                    length_size: parsed.nalu_length_size,
                },
                ..base(b"avc1", b"avcC", record.to_vec(), parsed.codec_string())
            }
        }
    })
}

/// Validates an audio sequence start and describes the sample entry it becomes.
fn audio_config(codec: AudioCodec, data: &[u8]) -> Result<AudioConfig, RemuxError> {
    Ok(match codec {
        AudioCodec::OPUS => {
            let parsed = OpusConfig::parse(data).map_err(RemuxError::OpusConfig)?;
            AudioConfig {
                raw: data.to_vec(),
                codec: parsed.codec_string(),
                sample_rate: opus::SAMPLE_RATE,
                channels: u16::from(parsed.channels),
                sample_size: 16,
                // Chromium refuses a dOps whose InputSampleRate differs from the sample
                // entry's 48 kHz (an encoder fed at 44.1 kHz, as OBS and WebAudio often are).
                // The field is informational, Opus always decodes at 48 kHz, so it says 48 kHz.
                config: AudioBox::DOps(
                    OpusConfig {
                        input_sample_rate: opus::SAMPLE_RATE,
                        ..parsed.clone()
                    }
                    .to_dops(),
                ),
                format: AudioFormat::Opus,
            }
        }
        AudioCodec::FLAC => {
            let parsed = FlacStreamInfo::parse(data).map_err(RemuxError::FlacConfig)?;
            AudioConfig {
                raw: data.to_vec(),
                codec: parsed.codec_string(),
                sample_rate: parsed.sample_rate,
                channels: u16::from(parsed.channels),
                sample_size: u16::from(parsed.bits_per_sample),
                config: AudioBox::DfLa(parsed.to_dfla()),
                format: AudioFormat::Flac {
                    default_block: u32::from(parsed.max_block_size.max(1)),
                },
            }
        }
        _ => {
            let info = AudioSpecificConfig::parse(data).map_err(RemuxError::AacConfig)?;
            AudioConfig {
                raw: data.to_vec(),
                codec: info.codec_string(),
                sample_rate: info.sample_rate,
                channels: info.channel_count(),
                sample_size: 16,
                config: AudioBox::Esds(data.to_vec()),
                format: AudioFormat::Aac {
                    frame_length: info.frame_length,
                },
            }
        }
    })
}

/// Checks that the length-prefixed NALUs tile the payload exactly, so a stream whose prefix
/// size disagrees with its sequence header (or an Annex-B stream) is reported rather than
/// handed to the browser's decoder.
fn check_nalus(payload: &[u8], length_size: u8, timestamp_ms: u32) -> Result<(), RemuxError> {
    let mut r = ByteReader::new(payload);
    while r.remaining() > 0 {
        let offset = r.pos();
        let len = match length_size {
            1 => r.u8().map(u32::from),
            2 => r.u16().map(u32::from),
            _ => r.u32(),
        };
        let Some(len) = len else {
            return Err(RemuxError::NaluLengthTruncated {
                timestamp_ms,
                offset,
                length_size,
            });
        };
        if r.bytes(len as usize).is_none() {
            return Err(RemuxError::NaluOverrun {
                timestamp_ms,
                offset,
                declared: len,
                remaining: r.remaining(),
            });
        }
    }
    Ok(())
}
