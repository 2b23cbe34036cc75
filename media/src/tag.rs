//! Audio and video tag headers: legacy FLV and Enhanced RTMP (v1 and v2), in one model.
//!
//! RTMP audio (type 8) and video (type 9) message payloads are FLV tag bodies. A body starts
//! with a header that says which codec it carries and what the packet is (a configuration
//! record, coded frames, the end of a sequence, a command); Enhanced RTMP adds FourCC codecs,
//! several tracks in one message (multitrack) and header modifiers (ModEx). The parsers here
//! read that header, never the codec data, so they are cheap enough to run on every message:
//! the gateway asks them whether a message is a keyframe or a sequence header, the remuxer
//! where each track's payload lies.
//!
//! Every question a caller may ask about any tag has one answer here:
//! [`VideoTagInfo::is_keyframe`] (a coded keyframe picture: not a command frame, not a
//! sequence start or end), [`VideoTagInfo::is_sequence_header`], `is_command`, `is_enhanced`,
//! `codec`, and the track ids ([`VideoTagInfo::tracks`]); [`MediaTagInfo`] asks them of an
//! audio or a video tag alike.
//!
//! Malformed headers are errors ([`TagBodyError`]), never panics: every length is checked
//! against the body, nothing is allocated, and a multitrack body is walked track by track
//! within its declared sizes.

use std::fmt;

use thiserror::Error;

use crate::reader::ByteReader;

/// Why a tag body cannot be classified.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TagBodyError {
    #[error("{track} tag body is empty")]
    Empty { track: &'static str },
    #[error("{track} tag body has {have} bytes, too short for its {what} ({need} bytes)")]
    TooShort {
        track: &'static str,
        what: &'static str,
        have: usize,
        need: usize,
    },
    #[error("video tag byte 1 has unknown AVCPacketType {0} (expected 0, 1 or 2)")]
    BadAvcPacketType(u8),
    #[error("audio tag byte 1 has unknown AACPacketType {0} (expected 0 or 1)")]
    BadAacPacketType(u8),
    #[error("enhanced {track} tag has reserved packet type {value}")]
    BadPacketType { track: &'static str, value: u8 },
    #[error("enhanced {track} tag has reserved multitrack type {value} (expected 0, 1 or 2)")]
    BadMultitrackType { track: &'static str, value: u8 },
    #[error(
        "enhanced {track} tag: track {track_id} at byte {offset} declares {declared} bytes but \
         only {remaining} follow"
    )]
    TrackOverrun {
        track: &'static str,
        track_id: u8,
        offset: usize,
        declared: u32,
        remaining: usize,
    },
}

/// Video codec of a tag: a legacy FLV CodecID, or an Enhanced RTMP FourCC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// Legacy CodecID 7.
    Avc,
    /// Legacy FLV CodecID other than 7 (2 = Sorenson H.263, 4 = VP6, ...).
    Other(u8),
    /// Enhanced RTMP FourCC (see the associated constants). An enhanced command frame names
    /// no codec and reports [`VideoCodec::NONE`].
    FourCc([u8; 4]),
}

impl VideoCodec {
    pub const AVC_FOURCC: VideoCodec = VideoCodec::FourCc(*b"avc1");
    pub const HEVC: VideoCodec = VideoCodec::FourCc(*b"hvc1");
    pub const AV1: VideoCodec = VideoCodec::FourCc(*b"av01");
    pub const VP9: VideoCodec = VideoCodec::FourCc(*b"vp09");
    pub const VP8: VideoCodec = VideoCodec::FourCc(*b"vp08");
    pub const VVC: VideoCodec = VideoCodec::FourCc(*b"vvc1");
    /// What an enhanced command frame (which carries no FourCC) reports.
    pub const NONE: VideoCodec = VideoCodec::FourCc([0; 4]);

    /// H.264 either way it is signalled (legacy id 7 or FourCC `avc1`).
    pub fn is_avc(&self) -> bool {
        matches!(self, VideoCodec::Avc) || *self == VideoCodec::AVC_FOURCC
    }

    /// The FourCC naming this codec in Enhanced RTMP (`avc1` for legacy AVC too), if any.
    pub fn fourcc(&self) -> Option<[u8; 4]> {
        match *self {
            VideoCodec::Avc => Some(*b"avc1"),
            VideoCodec::Other(_) => None,
            VideoCodec::FourCc(cc) => Some(cc).filter(|cc| *cc != [0; 4]),
        }
    }

    /// Whether CodedFrames packets of this codec carry an SI24 composition time offset.
    fn has_composition_time(&self) -> bool {
        matches!(self, VideoCodec::FourCc(cc) if matches!(cc, b"avc1" | b"hvc1" | b"vvc1"))
    }
}

/// Audio codec of a tag: a legacy SoundFormat, or an Enhanced RTMP FourCC (SoundFormat 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    /// Legacy SoundFormat 10.
    Aac,
    /// Legacy FLV SoundFormat other than 10 (2 = MP3, 11 = Speex, ...).
    Other(u8),
    /// Enhanced RTMP FourCC (see the associated constants).
    FourCc([u8; 4]),
}

impl AudioCodec {
    pub const OPUS: AudioCodec = AudioCodec::FourCc(*b"Opus");
    pub const FLAC: AudioCodec = AudioCodec::FourCc(*b"fLaC");
    pub const AC3: AudioCodec = AudioCodec::FourCc(*b"ac-3");
    pub const EAC3: AudioCodec = AudioCodec::FourCc(*b"ec-3");
    pub const AAC_FOURCC: AudioCodec = AudioCodec::FourCc(*b"mp4a");
    pub const MP3_FOURCC: AudioCodec = AudioCodec::FourCc(*b".mp3");

    /// AAC either way it is signalled (legacy format 10 or FourCC `mp4a`).
    pub fn is_aac(&self) -> bool {
        matches!(self, AudioCodec::Aac) || *self == AudioCodec::AAC_FOURCC
    }

    /// The FourCC naming this codec in Enhanced RTMP (`mp4a` for legacy AAC, `.mp3` for legacy
    /// MP3), if any.
    pub fn fourcc(&self) -> Option<[u8; 4]> {
        match *self {
            AudioCodec::Aac => Some(*b"mp4a"),
            AudioCodec::Other(2 | 14) => Some(*b".mp3"),
            AudioCodec::Other(_) => None,
            AudioCodec::FourCc(cc) => Some(cc),
        }
    }
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    Audio,
    Video,
}

impl fmt::Display for TrackKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrackKind::Audio => "audio",
            TrackKind::Video => "video",
        })
    }
}

/// An audio or a video codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Video(VideoCodec),
    Audio(AudioCodec),
}

impl Codec {
    pub fn track(&self) -> TrackKind {
        match self {
            Codec::Video(_) => TrackKind::Video,
            Codec::Audio(_) => TrackKind::Audio,
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Codec::Video(c) => write!(f, "video codec {c}"),
            Codec::Audio(c) => write!(f, "audio codec {c}"),
        }
    }
}

/// Legacy AVC packet type (byte 1 of a legacy AVC tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AvcPacketType {
    SequenceHeader,
    Nalu,
    EndOfSequence,
}

/// Legacy AAC packet type (byte 1 of a legacy AAC tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AacPacketType {
    SequenceHeader,
    Raw,
}

/// What a video tag carries, legacy and enhanced alike. Legacy AVC maps its AVCPacketType
/// onto the first three; legacy codecs other than AVC always carry `CodedFrames`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoPacketType {
    /// The codec's configuration record (avcC, hvcC, av1C, vpcC).
    SequenceStart,
    /// Coded frames; for avc1/hvc1/vvc1 preceded by an SI24 composition time offset.
    CodedFrames,
    SequenceEnd,
    /// Coded frames with an implied composition time offset of 0.
    CodedFramesX,
    /// AMF-encoded metadata (for example `colorInfo`); the frame type is meaningless.
    Metadata,
    /// An MPEG-2 TS video descriptor instead of a configuration record.
    Mpeg2TsSequenceStart,
}

/// What an audio tag carries. Legacy AAC maps its AACPacketType onto the first two; other
/// legacy formats always carry `CodedFrames`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioPacketType {
    /// The codec's configuration (AudioSpecificConfig, OpusHead, FLAC STREAMINFO).
    SequenceStart,
    CodedFrames,
    SequenceEnd,
    /// Channel order and count for codecs that do not describe their own layout.
    MultichannelConfig,
}

/// How the tracks of a multitrack message are laid out (AvMultitrackType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MultitrackType {
    /// One track, with a track id, filling the rest of the body.
    OneTrack,
    /// Several tracks of one codec, each with an id and a UI24 size.
    ManyTracks,
    /// Several tracks, each with its own FourCC, id and size.
    ManyTracksManyCodecs,
}

impl MultitrackType {
    fn from_nibble(track: &'static str, value: u8) -> Result<Self, TagBodyError> {
        match value {
            0 => Ok(MultitrackType::OneTrack),
            1 => Ok(MultitrackType::ManyTracks),
            2 => Ok(MultitrackType::ManyTracksManyCodecs),
            value => Err(TagBodyError::BadMultitrackType { track, value }),
        }
    }
}

/// The parsed header of a video tag body (an RTMP video message payload). Describes the first
/// track; [`VideoTagInfo::tracks`] walks all of them in a multitrack message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTagInfo {
    /// FLV FrameType: 1 key, 2 inter, 3 disposable inter, 4 generated key, 5 command.
    pub frame_type: u8,
    /// The first track's codec.
    pub codec: VideoCodec,
    /// `None` for command frames.
    pub packet_type: Option<VideoPacketType>,
    /// Only for legacy AVC (kept for callers of the legacy model).
    pub avc_packet_type: Option<AvcPacketType>,
    /// The command of a command frame (0 StartSeek, 1 EndSeek).
    pub command: Option<u8>,
    /// `isExVideoHeader` was set.
    pub enhanced: bool,
    /// `Some` for a multitrack message.
    pub multitrack: Option<MultitrackType>,
    /// The first track's id: 0 without multitrack (the default track).
    pub track_id: u8,
    /// ModEx TimestampOffsetNano: nanoseconds to add to the millisecond timestamp.
    pub timestamp_offset_nanos: u32,
    /// The first track's composition time offset (pts - dts) in ms, sign-extended.
    pub composition_time: i32,
    /// Where the first track's codec payload (record, NALUs, OBUs, frame) starts and ends.
    pub payload_offset: usize,
    pub payload_end: usize,
    /// Where the multitrack track list starts, and the FourCC shared by its tracks.
    tracks_offset: usize,
    shared_codec: VideoCodec,
}

/// One track of a video message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTrack {
    pub track_id: u8,
    pub codec: VideoCodec,
    pub composition_time: i32,
    pub payload_offset: usize,
    pub payload_end: usize,
}

impl VideoTrack {
    pub fn payload<'a>(&self, body: &'a [u8]) -> &'a [u8] {
        body.get(self.payload_offset..self.payload_end)
            .unwrap_or_default()
    }
}

impl VideoTagInfo {
    /// A coded keyframe picture: frame type 1 with coded frames (not a command frame, not a
    /// sequence start, end or metadata). The one keyframe rule for every codec: the GOP cache,
    /// recordings' keyframe tables, seeking and the remuxer's sync samples all use it.
    pub fn is_keyframe(&self) -> bool {
        self.frame_type == 1
            && matches!(
                self.packet_type,
                Some(VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX)
            )
    }

    /// A configuration record (or MPEG-2 TS descriptor) a decoder needs before any frame.
    pub fn is_sequence_header(&self) -> bool {
        matches!(
            self.packet_type,
            Some(VideoPacketType::SequenceStart | VideoPacketType::Mpeg2TsSequenceStart)
        )
    }

    /// Command frames (frame type 5) carry a seek marker, not a picture.
    pub fn is_command(&self) -> bool {
        self.command.is_some()
    }

    pub fn is_enhanced(&self) -> bool {
        self.enhanced
    }

    /// Coded frames (a picture, key or not).
    pub fn is_coded_frame(&self) -> bool {
        matches!(
            self.packet_type,
            Some(VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX)
        )
    }

    /// The first track's payload.
    pub fn payload<'a>(&self, body: &'a [u8]) -> &'a [u8] {
        body.get(self.payload_offset..self.payload_end)
            .unwrap_or_default()
    }

    /// Every track of the message (one for a message without multitrack). `body` must be the
    /// body this info was parsed from; the walk stops early on anything else.
    pub fn tracks<'a>(&self, body: &'a [u8]) -> VideoTracks<'a> {
        VideoTracks {
            body,
            info: *self,
            pos: self.tracks_offset,
            first: true,
        }
    }

    /// The track with this id, if the message carries it.
    pub fn track(&self, body: &[u8], track_id: u8) -> Option<VideoTrack> {
        self.tracks(body).find(|t| t.track_id == track_id)
    }
}

/// Iterator over the tracks of a video message.
#[derive(Debug, Clone)]
pub struct VideoTracks<'a> {
    body: &'a [u8],
    info: VideoTagInfo,
    pos: usize,
    first: bool,
}

impl Iterator for VideoTracks<'_> {
    type Item = VideoTrack;

    fn next(&mut self) -> Option<VideoTrack> {
        let first = std::mem::replace(&mut self.first, false);
        let Some(multitrack) = self.info.multitrack else {
            return first.then_some(VideoTrack {
                track_id: self.info.track_id,
                codec: self.info.codec,
                composition_time: self.info.composition_time,
                payload_offset: self.info.payload_offset,
                payload_end: self.info.payload_end,
            });
        };
        if self.pos >= self.body.len() || (!first && multitrack == MultitrackType::OneTrack) {
            return None;
        }
        let (track, next) = read_video_track(
            self.body,
            self.pos,
            multitrack,
            self.info.shared_codec,
            self.info.packet_type,
        )
        .ok()?;
        self.pos = next;
        Some(track)
    }
}

/// Reads one entry of a multitrack track list at `pos`: the track and where the next starts.
fn read_video_track(
    body: &[u8],
    pos: usize,
    multitrack: MultitrackType,
    shared: VideoCodec,
    packet_type: Option<VideoPacketType>,
) -> Result<(VideoTrack, usize), TagBodyError> {
    const TRACK: &str = "video";
    let (track_id, codec, start, end) = read_track_entry(TRACK, body, pos, multitrack)?;
    let codec = match codec {
        Some(cc) => VideoCodec::FourCc(cc),
        None => shared,
    };
    let (composition_time, payload_offset) =
        video_payload_start(body, start, end, codec, packet_type)?;
    Ok((
        VideoTrack {
            track_id,
            codec,
            composition_time,
            payload_offset,
            payload_end: end,
        },
        end,
    ))
}

/// One multitrack entry: track id, its own FourCC (ManyTracksManyCodecs), data start and end.
type TrackEntry = (u8, Option<[u8; 4]>, usize, usize);

/// Reads `[FourCC] trackId [UI24 size]` at `pos`: the id, the FourCC if the entry has its own,
/// and the track data's range.
fn read_track_entry(
    track: &'static str,
    body: &[u8],
    pos: usize,
    multitrack: MultitrackType,
) -> Result<TrackEntry, TagBodyError> {
    let mut r = ByteReader::new(body.get(pos..).unwrap_or_default());
    let too_short = |what, need| TagBodyError::TooShort {
        track,
        what,
        have: body.len(),
        need,
    };
    let codec = if multitrack == MultitrackType::ManyTracksManyCodecs {
        Some(r.array::<4>().ok_or(too_short("track FourCC", pos + 4))?)
    } else {
        None
    };
    let track_id = r.u8().ok_or(too_short("track id", pos + r.pos() + 1))?;
    if multitrack == MultitrackType::OneTrack {
        return Ok((track_id, codec, pos + r.pos(), body.len()));
    }
    let size = r.u24().ok_or(too_short("track size", pos + r.pos() + 3))?;
    let start = pos + r.pos();
    let remaining = body.len() - start;
    if size as usize > remaining {
        return Err(TagBodyError::TrackOverrun {
            track,
            track_id,
            offset: pos,
            declared: size,
            remaining,
        });
    }
    Ok((track_id, codec, start, start + size as usize))
}

/// Within one track's data: the composition time and where the codec payload starts.
fn video_payload_start(
    body: &[u8],
    start: usize,
    end: usize,
    codec: VideoCodec,
    packet_type: Option<VideoPacketType>,
) -> Result<(i32, usize), TagBodyError> {
    if packet_type == Some(VideoPacketType::CodedFrames) && codec.has_composition_time() {
        let cts = body
            .get(start..end)
            .and_then(|d| ByteReader::new(d).u24())
            .ok_or(TagBodyError::TooShort {
                track: "video",
                what: "composition time offset",
                have: body.len(),
                need: start + 3,
            })?;
        return Ok((sign_extend_24(cts), start + 3));
    }
    Ok((0, start))
}

fn sign_extend_24(value: u32) -> i32 {
    ((value << 8) as i32) >> 8
}

/// Skips ModEx modifiers starting at the reader's position, given the packet type nibble that
/// announced the first one; returns the final packet type and the nanosecond offset, if any.
fn read_mod_ex(
    track: &'static str,
    r: &mut ByteReader<'_>,
    body_len: usize,
    mut packet_type: u8,
) -> Result<(u8, u32), TagBodyError> {
    const MOD_EX: u8 = 7;
    let mut nanos = 0;
    let too_short = |what, need| TagBodyError::TooShort {
        track,
        what,
        have: body_len,
        need,
    };
    // Each round consumes at least two bytes, so the loop ends with the body.
    while packet_type == MOD_EX {
        let mut size = usize::from(r.u8().ok_or(too_short("ModEx size", r.pos() + 1))?) + 1;
        if size == 256 {
            size = usize::from(r.u16().ok_or(too_short("ModEx size", r.pos() + 2))?) + 1;
        }
        let data = r
            .bytes(size)
            .ok_or(too_short("ModEx data", r.pos() + size))?;
        let types = r.u8().ok_or(too_short("ModEx type", r.pos() + 1))?;
        if types >> 4 == 0 {
            // TimestampOffsetNano: a UI24 in the first three bytes of the data.
            if let Some(value) = ByteReader::new(data).u24() {
                nanos = value;
            }
        }
        packet_type = types & 0x0f;
    }
    Ok((packet_type, nanos))
}

/// Classifies a video tag body (an RTMP video message payload), legacy or enhanced.
pub fn parse_video_tag(body: &[u8]) -> Result<VideoTagInfo, TagBodyError> {
    const TRACK: &str = "video";
    let mut r = ByteReader::new(body);
    let first = r.u8().ok_or(TagBodyError::Empty { track: TRACK })?;
    if first & 0x80 != 0 {
        return parse_enhanced_video(body, first, r);
    }
    let frame_type = first >> 4;
    let codec_id = first & 0x0f;
    let mut info = VideoTagInfo {
        frame_type,
        codec: VideoCodec::Other(codec_id),
        packet_type: Some(VideoPacketType::CodedFrames),
        avc_packet_type: None,
        command: None,
        enhanced: false,
        multitrack: None,
        track_id: 0,
        timestamp_offset_nanos: 0,
        composition_time: 0,
        payload_offset: 1,
        payload_end: body.len(),
        tracks_offset: 1,
        shared_codec: VideoCodec::Other(codec_id),
    };
    if codec_id == 7 {
        info.codec = VideoCodec::Avc;
        info.shared_codec = VideoCodec::Avc;
    }
    if frame_type == 5 {
        // Command frames have no codec header, only a one-byte command.
        info.packet_type = None;
        info.command = Some(r.u8().unwrap_or(0));
        info.payload_offset = body.len().min(2);
        return Ok(info);
    }
    if codec_id != 7 {
        return Ok(info);
    }
    let too_short = TagBodyError::TooShort {
        track: TRACK,
        what: "AVC packet header",
        have: body.len(),
        need: 5,
    };
    let (avc, packet) = match r.u8().ok_or(too_short.clone())? {
        0 => (
            AvcPacketType::SequenceHeader,
            VideoPacketType::SequenceStart,
        ),
        1 => (AvcPacketType::Nalu, VideoPacketType::CodedFrames),
        2 => (AvcPacketType::EndOfSequence, VideoPacketType::SequenceEnd),
        other => return Err(TagBodyError::BadAvcPacketType(other)),
    };
    let cts = r.u24().ok_or(too_short)?;
    info.avc_packet_type = Some(avc);
    info.packet_type = Some(packet);
    info.composition_time = sign_extend_24(cts);
    info.payload_offset = 5;
    Ok(info)
}

fn parse_enhanced_video(
    body: &[u8],
    first: u8,
    mut r: ByteReader<'_>,
) -> Result<VideoTagInfo, TagBodyError> {
    const TRACK: &str = "video";
    let too_short = |what, need| TagBodyError::TooShort {
        track: TRACK,
        what,
        have: body.len(),
        need,
    };
    let frame_type = (first >> 4) & 0x07;
    let (mut packet_type, nanos) = read_mod_ex(TRACK, &mut r, body.len(), first & 0x0f)?;
    let mut info = VideoTagInfo {
        frame_type,
        codec: VideoCodec::NONE,
        packet_type: None,
        avc_packet_type: None,
        command: None,
        enhanced: true,
        multitrack: None,
        track_id: 0,
        timestamp_offset_nanos: nanos,
        composition_time: 0,
        payload_offset: r.pos(),
        payload_end: body.len(),
        tracks_offset: r.pos(),
        shared_codec: VideoCodec::NONE,
    };
    if packet_type != 4 && frame_type == 5 {
        // A command frame: the command byte and nothing else, not even a FourCC.
        info.command = Some(r.u8().ok_or(too_short("video command", r.pos() + 1))?);
        info.payload_offset = r.pos();
        return Ok(info);
    }
    if packet_type == 6 {
        let byte = r.u8().ok_or(too_short("multitrack type", r.pos() + 1))?;
        let multitrack = MultitrackType::from_nibble(TRACK, byte >> 4)?;
        packet_type = byte & 0x0f;
        info.multitrack = Some(multitrack);
        if multitrack != MultitrackType::ManyTracksManyCodecs {
            let cc = r.array::<4>().ok_or(too_short("FourCC", r.pos() + 4))?;
            info.shared_codec = VideoCodec::FourCc(cc);
        }
    } else {
        let cc = r.array::<4>().ok_or(too_short("FourCC", r.pos() + 4))?;
        info.shared_codec = VideoCodec::FourCc(cc);
    }
    info.packet_type = Some(match packet_type {
        0 => VideoPacketType::SequenceStart,
        1 => VideoPacketType::CodedFrames,
        2 => VideoPacketType::SequenceEnd,
        3 => VideoPacketType::CodedFramesX,
        4 => VideoPacketType::Metadata,
        5 => VideoPacketType::Mpeg2TsSequenceStart,
        value => {
            return Err(TagBodyError::BadPacketType {
                track: TRACK,
                value,
            })
        }
    });
    info.tracks_offset = r.pos();
    match info.multitrack {
        None => {
            info.codec = info.shared_codec;
            let (cts, offset) =
                video_payload_start(body, r.pos(), body.len(), info.codec, info.packet_type)?;
            info.composition_time = cts;
            info.payload_offset = offset;
        }
        Some(multitrack) => {
            // Validate the whole track list now, so that `tracks()` never meets garbage.
            let mut pos = r.pos();
            let mut first_track = None;
            loop {
                let (track, next) =
                    read_video_track(body, pos, multitrack, info.shared_codec, info.packet_type)?;
                first_track.get_or_insert(track);
                pos = next;
                if multitrack == MultitrackType::OneTrack || pos >= body.len() {
                    break;
                }
            }
            if let Some(track) = first_track {
                info.codec = track.codec;
                info.track_id = track.track_id;
                info.composition_time = track.composition_time;
                info.payload_offset = track.payload_offset;
                info.payload_end = track.payload_end;
            }
        }
    }
    Ok(info)
}

/// The parsed header of an audio tag body (an RTMP audio message payload). Describes the first
/// track; [`AudioTagInfo::tracks`] walks all of them in a multitrack message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioTagInfo {
    /// The first track's codec.
    pub codec: AudioCodec,
    /// SoundRate bits (0 = 5.5 kHz .. 3 = 44 kHz); meaningless for AAC and enhanced tags (0).
    pub sound_rate: u8,
    /// SoundSize bit: 0 = 8-bit, 1 = 16-bit samples (0 for enhanced tags).
    pub sound_size: u8,
    /// SoundType bit: 0 = mono, 1 = stereo (0 for enhanced tags).
    pub sound_type: u8,
    pub packet_type: AudioPacketType,
    /// Only for legacy AAC (kept for callers of the legacy model).
    pub aac_packet_type: Option<AacPacketType>,
    /// SoundFormat 9 (ExHeader).
    pub enhanced: bool,
    pub multitrack: Option<MultitrackType>,
    /// The first track's id: 0 without multitrack.
    pub track_id: u8,
    pub timestamp_offset_nanos: u32,
    /// Where the first track's codec payload (config or frame) starts and ends.
    pub payload_offset: usize,
    pub payload_end: usize,
    tracks_offset: usize,
    shared_codec: AudioCodec,
}

/// One track of an audio message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioTrack {
    pub track_id: u8,
    pub codec: AudioCodec,
    pub payload_offset: usize,
    pub payload_end: usize,
}

impl AudioTrack {
    pub fn payload<'a>(&self, body: &'a [u8]) -> &'a [u8] {
        body.get(self.payload_offset..self.payload_end)
            .unwrap_or_default()
    }
}

impl AudioTagInfo {
    pub fn is_sequence_header(&self) -> bool {
        self.packet_type == AudioPacketType::SequenceStart
    }

    pub fn is_coded_frame(&self) -> bool {
        self.packet_type == AudioPacketType::CodedFrames
    }

    pub fn is_enhanced(&self) -> bool {
        self.enhanced
    }

    /// The first track's payload.
    pub fn payload<'a>(&self, body: &'a [u8]) -> &'a [u8] {
        body.get(self.payload_offset..self.payload_end)
            .unwrap_or_default()
    }

    /// Every track of the message (one without multitrack).
    pub fn tracks<'a>(&self, body: &'a [u8]) -> AudioTracks<'a> {
        AudioTracks {
            body,
            info: *self,
            pos: self.tracks_offset,
            first: true,
        }
    }

    pub fn track(&self, body: &[u8], track_id: u8) -> Option<AudioTrack> {
        self.tracks(body).find(|t| t.track_id == track_id)
    }
}

/// Iterator over the tracks of an audio message.
#[derive(Debug, Clone)]
pub struct AudioTracks<'a> {
    body: &'a [u8],
    info: AudioTagInfo,
    pos: usize,
    first: bool,
}

impl Iterator for AudioTracks<'_> {
    type Item = AudioTrack;

    fn next(&mut self) -> Option<AudioTrack> {
        let first = std::mem::replace(&mut self.first, false);
        let Some(multitrack) = self.info.multitrack else {
            return first.then_some(AudioTrack {
                track_id: self.info.track_id,
                codec: self.info.codec,
                payload_offset: self.info.payload_offset,
                payload_end: self.info.payload_end,
            });
        };
        if self.pos >= self.body.len() || (!first && multitrack == MultitrackType::OneTrack) {
            return None;
        }
        let (track_id, cc, start, end) =
            read_track_entry("audio", self.body, self.pos, multitrack).ok()?;
        self.pos = end;
        Some(AudioTrack {
            track_id,
            codec: cc.map_or(self.info.shared_codec, AudioCodec::FourCc),
            payload_offset: start,
            payload_end: end,
        })
    }
}

/// Classifies an audio tag body (an RTMP audio message payload), legacy or enhanced.
pub fn parse_audio_tag(body: &[u8]) -> Result<AudioTagInfo, TagBodyError> {
    const TRACK: &str = "audio";
    let mut r = ByteReader::new(body);
    let first = r.u8().ok_or(TagBodyError::Empty { track: TRACK })?;
    let sound_format = first >> 4;
    let mut info = AudioTagInfo {
        codec: AudioCodec::Other(sound_format),
        sound_rate: (first >> 2) & 0x03,
        sound_size: (first >> 1) & 0x01,
        sound_type: first & 0x01,
        packet_type: AudioPacketType::CodedFrames,
        aac_packet_type: None,
        enhanced: false,
        multitrack: None,
        track_id: 0,
        timestamp_offset_nanos: 0,
        payload_offset: 1,
        payload_end: body.len(),
        tracks_offset: 1,
        shared_codec: AudioCodec::Other(sound_format),
    };
    match sound_format {
        9 => parse_enhanced_audio(body, first, r, info),
        10 => {
            let packet_type = r.u8().ok_or(TagBodyError::TooShort {
                track: TRACK,
                what: "AACPacketType",
                have: body.len(),
                need: 2,
            })?;
            info.codec = AudioCodec::Aac;
            info.shared_codec = AudioCodec::Aac;
            let (aac, packet) = match packet_type {
                0 => (
                    AacPacketType::SequenceHeader,
                    AudioPacketType::SequenceStart,
                ),
                1 => (AacPacketType::Raw, AudioPacketType::CodedFrames),
                other => return Err(TagBodyError::BadAacPacketType(other)),
            };
            info.aac_packet_type = Some(aac);
            info.packet_type = packet;
            info.payload_offset = 2;
            info.tracks_offset = 2;
            Ok(info)
        }
        _ => Ok(info),
    }
}

fn parse_enhanced_audio(
    body: &[u8],
    first: u8,
    mut r: ByteReader<'_>,
    mut info: AudioTagInfo,
) -> Result<AudioTagInfo, TagBodyError> {
    const TRACK: &str = "audio";
    let too_short = |what, need| TagBodyError::TooShort {
        track: TRACK,
        what,
        have: body.len(),
        need,
    };
    info.enhanced = true;
    info.sound_rate = 0;
    info.sound_size = 0;
    info.sound_type = 0;
    let (mut packet_type, nanos) = read_mod_ex(TRACK, &mut r, body.len(), first & 0x0f)?;
    info.timestamp_offset_nanos = nanos;
    if packet_type == 5 {
        let byte = r.u8().ok_or(too_short("multitrack type", r.pos() + 1))?;
        let multitrack = MultitrackType::from_nibble(TRACK, byte >> 4)?;
        packet_type = byte & 0x0f;
        info.multitrack = Some(multitrack);
        if multitrack != MultitrackType::ManyTracksManyCodecs {
            let cc = r.array::<4>().ok_or(too_short("FourCC", r.pos() + 4))?;
            info.shared_codec = AudioCodec::FourCc(cc);
        }
    } else {
        let cc = r.array::<4>().ok_or(too_short("FourCC", r.pos() + 4))?;
        info.shared_codec = AudioCodec::FourCc(cc);
    }
    info.packet_type = match packet_type {
        0 => AudioPacketType::SequenceStart,
        1 => AudioPacketType::CodedFrames,
        2 => AudioPacketType::SequenceEnd,
        4 => AudioPacketType::MultichannelConfig,
        value => {
            return Err(TagBodyError::BadPacketType {
                track: TRACK,
                value,
            })
        }
    };
    info.codec = info.shared_codec;
    info.tracks_offset = r.pos();
    info.payload_offset = r.pos();
    if let Some(multitrack) = info.multitrack {
        let mut pos = r.pos();
        let mut first_track = None;
        loop {
            let (track_id, cc, start, end) = read_track_entry(TRACK, body, pos, multitrack)?;
            first_track.get_or_insert((track_id, cc, start, end));
            pos = end;
            if multitrack == MultitrackType::OneTrack || pos >= body.len() {
                break;
            }
        }
        if let Some((track_id, cc, start, end)) = first_track {
            info.track_id = track_id;
            info.codec = cc.map_or(info.shared_codec, AudioCodec::FourCc);
            info.payload_offset = start;
            info.payload_end = end;
        }
    }
    Ok(info)
}

/// An audio or a video tag's header, for callers that treat both alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaTagInfo {
    Audio(AudioTagInfo),
    Video(VideoTagInfo),
}

/// Parses the header of an audio or video tag body.
pub fn parse_media_tag(kind: TrackKind, body: &[u8]) -> Result<MediaTagInfo, TagBodyError> {
    Ok(match kind {
        TrackKind::Audio => MediaTagInfo::Audio(parse_audio_tag(body)?),
        TrackKind::Video => MediaTagInfo::Video(parse_video_tag(body)?),
    })
}

impl MediaTagInfo {
    /// The first track's codec.
    pub fn codec(&self) -> Codec {
        match self {
            MediaTagInfo::Audio(a) => Codec::Audio(a.codec),
            MediaTagInfo::Video(v) => Codec::Video(v.codec),
        }
    }

    pub fn kind(&self) -> TrackKind {
        match self {
            MediaTagInfo::Audio(_) => TrackKind::Audio,
            MediaTagInfo::Video(_) => TrackKind::Video,
        }
    }

    pub fn is_enhanced(&self) -> bool {
        match self {
            MediaTagInfo::Audio(a) => a.enhanced,
            MediaTagInfo::Video(v) => v.enhanced,
        }
    }

    pub fn is_sequence_header(&self) -> bool {
        match self {
            MediaTagInfo::Audio(a) => a.is_sequence_header(),
            MediaTagInfo::Video(v) => v.is_sequence_header(),
        }
    }

    /// A video keyframe picture; audio tags are never keyframes.
    pub fn is_keyframe(&self) -> bool {
        matches!(self, MediaTagInfo::Video(v) if v.is_keyframe())
    }

    pub fn is_command(&self) -> bool {
        matches!(self, MediaTagInfo::Video(v) if v.is_command())
    }

    pub fn multitrack(&self) -> Option<MultitrackType> {
        match self {
            MediaTagInfo::Audio(a) => a.multitrack,
            MediaTagInfo::Video(v) => v.multitrack,
        }
    }

    /// The first track's id (0 without multitrack).
    pub fn track_id(&self) -> u8 {
        match self {
            MediaTagInfo::Audio(a) => a.track_id,
            MediaTagInfo::Video(v) => v.track_id,
        }
    }

    /// The ids of every track in the message, in order.
    pub fn track_ids<'a>(&self, body: &'a [u8]) -> impl Iterator<Item = u8> + 'a {
        let (audio, video) = match *self {
            MediaTagInfo::Audio(a) => (Some(a.tracks(body)), None),
            MediaTagInfo::Video(v) => (None, Some(v.tracks(body))),
        };
        audio
            .into_iter()
            .flatten()
            .map(|t| t.track_id)
            .chain(video.into_iter().flatten().map(|t| t.track_id))
    }
}

impl fmt::Display for VideoCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            VideoCodec::Avc => f.write_str("AVC (FLV codec id 7)"),
            VideoCodec::Other(id) => {
                let name = match id {
                    1 => "JPEG",
                    2 => "Sorenson H.263",
                    3 => "Screen video",
                    4 => "On2 VP6",
                    5 => "On2 VP6 with alpha",
                    6 => "Screen video v2",
                    12 => "HEVC (non-standard id 12)",
                    _ => "unknown",
                };
                write!(f, "{name} (FLV codec id {id})")
            }
            VideoCodec::FourCc(cc) => write!(f, "enhanced-RTMP FourCC {}", FourCcText(cc)),
        }
    }
}

impl fmt::Display for AudioCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AudioCodec::Aac => f.write_str("AAC (FLV sound format 10)"),
            AudioCodec::Other(id) => {
                let name = match id {
                    0 => "linear PCM, platform endian",
                    1 => "ADPCM",
                    2 => "MP3",
                    3 => "linear PCM, little endian",
                    4..=6 => "Nellymoser",
                    7 => "G.711 A-law",
                    8 => "G.711 mu-law",
                    11 => "Speex",
                    14 => "MP3 8 kHz",
                    15 => "device-specific",
                    _ => "unknown",
                };
                write!(f, "{name} (FLV sound format {id})")
            }
            AudioCodec::FourCc(cc) => write!(f, "enhanced-RTMP FourCC {}", FourCcText(cc)),
        }
    }
}

/// Prints a FourCC as text when printable, hex otherwise (it comes from untrusted input).
pub struct FourCcText(pub [u8; 4]);

impl fmt::Display for FourCcText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            for b in self.0 {
                write!(f, "{}", char::from(b))?;
            }
            Ok(())
        } else {
            write!(f, "{:02x?}", self.0)
        }
    }
}

/// Why a tag header cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TagWriteError {
    #[error("{0} has no tag header this writer can make (legacy codecs other than AVC and AAC)")]
    UnsupportedCodec(Codec),
    #[error("{packet:?} cannot be sent with {codec}")]
    UnsupportedPacket { codec: Codec, packet: &'static str },
    #[error("composition time {0} ms does not fit the 24-bit field")]
    CompositionTime(i32),
}

/// What [`write_video_tag`] puts in front of a video payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTagHeader {
    /// Legacy [`VideoCodec::Avc`] gets the legacy header (what every player reads); a FourCC
    /// gets an ExVideoTagHeader.
    pub codec: VideoCodec,
    pub packet_type: VideoPacketType,
    pub keyframe: bool,
    /// Composition time offset (ms); written for AVC and, enhanced, for `avc1`/`hvc1`/`vvc1`
    /// coded frames (others, and an offset of 0 there, use CodedFramesX).
    pub composition_time: i32,
}

/// Writes a video tag body (an RTMP video message payload): the header, then `payload` (a
/// configuration record, coded frames). The inverse of [`parse_video_tag`] for one track.
pub fn write_video_tag(
    header: &VideoTagHeader,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), TagWriteError> {
    let codec = header.codec;
    let frame_type: u8 = if header.keyframe { 1 } else { 2 };
    let cts = header.composition_time;
    if !(-(1 << 23)..(1 << 23)).contains(&cts) {
        return Err(TagWriteError::CompositionTime(cts));
    }
    let cts_bytes = cts.to_be_bytes();
    let unsupported = |packet| TagWriteError::UnsupportedPacket {
        codec: Codec::Video(codec),
        packet,
    };
    out.reserve(8 + payload.len());
    match codec {
        VideoCodec::Avc => {
            let avc_packet = match header.packet_type {
                VideoPacketType::SequenceStart => 0,
                VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX => 1,
                VideoPacketType::SequenceEnd => 2,
                VideoPacketType::Metadata => return Err(unsupported("Metadata")),
                VideoPacketType::Mpeg2TsSequenceStart => {
                    return Err(unsupported("Mpeg2TsSequenceStart"))
                }
            };
            out.push(frame_type << 4 | 7);
            out.push(avc_packet);
            out.extend_from_slice(&cts_bytes[1..]);
        }
        VideoCodec::Other(_) => return Err(TagWriteError::UnsupportedCodec(Codec::Video(codec))),
        VideoCodec::FourCc(cc) => {
            if codec == VideoCodec::NONE {
                return Err(TagWriteError::UnsupportedCodec(Codec::Video(codec)));
            }
            let with_cts = codec.has_composition_time() && cts != 0;
            let nibble = match header.packet_type {
                VideoPacketType::SequenceStart => 0,
                VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX if with_cts => 1,
                VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX => 3,
                VideoPacketType::SequenceEnd => 2,
                VideoPacketType::Metadata => 4,
                VideoPacketType::Mpeg2TsSequenceStart => 5,
            };
            out.push(0x80 | frame_type << 4 | nibble);
            out.extend_from_slice(&cc);
            if nibble == 1 {
                out.extend_from_slice(&cts_bytes[1..]);
            }
        }
    }
    out.extend_from_slice(payload);
    Ok(())
}

/// Writes an audio tag body: legacy AAC (`0xAF`, AACPacketType) or an ExAudioTagHeader
/// (SoundFormat 9, AudioPacketType, FourCC), then `payload`. The inverse of
/// [`parse_audio_tag`] for one track. Legacy formats other than AAC carry their rate and size
/// in the header byte, which the caller writes itself.
pub fn write_audio_tag(
    codec: AudioCodec,
    packet_type: AudioPacketType,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), TagWriteError> {
    out.reserve(5 + payload.len());
    match codec {
        AudioCodec::Aac => {
            let aac_packet = match packet_type {
                AudioPacketType::SequenceStart => 0,
                AudioPacketType::CodedFrames => 1,
                AudioPacketType::SequenceEnd => {
                    return Err(TagWriteError::UnsupportedPacket {
                        codec: Codec::Audio(codec),
                        packet: "SequenceEnd",
                    })
                }
                AudioPacketType::MultichannelConfig => {
                    return Err(TagWriteError::UnsupportedPacket {
                        codec: Codec::Audio(codec),
                        packet: "MultichannelConfig",
                    })
                }
            };
            out.push(0xaf);
            out.push(aac_packet);
        }
        AudioCodec::Other(_) => return Err(TagWriteError::UnsupportedCodec(Codec::Audio(codec))),
        AudioCodec::FourCc(cc) => {
            let nibble = match packet_type {
                AudioPacketType::SequenceStart => 0,
                AudioPacketType::CodedFrames => 1,
                AudioPacketType::SequenceEnd => 2,
                AudioPacketType::MultichannelConfig => 4,
            };
            out.push(0x90 | nibble);
            out.extend_from_slice(&cc);
        }
    }
    out.extend_from_slice(payload);
    Ok(())
}

/// Writes one track of a video message as a message of its own, without multitrack: the same
/// frame type and packet type, the track's FourCC and payload. `None` if the message has no
/// such track or is not enhanced.
pub fn video_track_as_message(body: &[u8], track_id: u8) -> Option<Vec<u8>> {
    let info = parse_video_tag(body).ok()?;
    let packet = info.packet_type?;
    if !info.enhanced {
        return None;
    }
    let track = info.track(body, track_id)?;
    let cc = track.codec.fourcc()?;
    let (nibble, cts) = match packet {
        VideoPacketType::SequenceStart => (0, None),
        VideoPacketType::CodedFrames if track.codec.has_composition_time() => {
            (1, Some(track.composition_time))
        }
        VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX => (3, None),
        VideoPacketType::SequenceEnd => (2, None),
        VideoPacketType::Metadata => (4, None),
        VideoPacketType::Mpeg2TsSequenceStart => (5, None),
    };
    let payload = track.payload(body);
    let mut out = Vec::with_capacity(8 + payload.len());
    out.push(0x80 | (info.frame_type & 0x07) << 4 | nibble);
    out.extend_from_slice(&cc);
    if let Some(cts) = cts {
        out.extend_from_slice(&cts.to_be_bytes()[1..]);
    }
    out.extend_from_slice(payload);
    Some(out)
}

/// The audio counterpart of [`video_track_as_message`].
pub fn audio_track_as_message(body: &[u8], track_id: u8) -> Option<Vec<u8>> {
    let info = parse_audio_tag(body).ok()?;
    if !info.enhanced {
        return None;
    }
    let track = info.track(body, track_id)?;
    let cc = track.codec.fourcc()?;
    let nibble = match info.packet_type {
        AudioPacketType::SequenceStart => 0,
        AudioPacketType::CodedFrames => 1,
        AudioPacketType::SequenceEnd => 2,
        AudioPacketType::MultichannelConfig => 4,
    };
    let payload = track.payload(body);
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(0x90 | nibble);
    out.extend_from_slice(&cc);
    out.extend_from_slice(payload);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_video_tags_parse_back() {
        let cases = [
            (VideoCodec::AV1, VideoPacketType::SequenceStart, true, 0),
            (VideoCodec::AV1, VideoPacketType::CodedFrames, true, 0),
            (VideoCodec::VP9, VideoPacketType::CodedFrames, false, 0),
            (VideoCodec::HEVC, VideoPacketType::CodedFrames, false, -40),
            (VideoCodec::HEVC, VideoPacketType::CodedFrames, true, 0),
            (VideoCodec::Avc, VideoPacketType::CodedFrames, false, 67),
            (VideoCodec::Avc, VideoPacketType::SequenceStart, true, 0),
            (VideoCodec::AV1, VideoPacketType::SequenceEnd, false, 0),
        ];
        for (codec, packet_type, keyframe, composition_time) in cases {
            let header = VideoTagHeader {
                codec,
                packet_type,
                keyframe,
                composition_time,
            };
            let mut body = Vec::new();
            write_video_tag(&header, &[9, 8, 7], &mut body).unwrap();
            let info = parse_video_tag(&body).unwrap();
            assert_eq!(info.codec, codec, "{header:?}");
            assert_eq!(info.is_enhanced(), codec != VideoCodec::Avc);
            assert_eq!(
                info.is_sequence_header(),
                packet_type == VideoPacketType::SequenceStart
            );
            let coded = packet_type == VideoPacketType::CodedFrames;
            assert_eq!(info.is_keyframe(), coded && keyframe, "{header:?}");
            assert_eq!(info.composition_time, composition_time);
            assert_eq!(info.payload(&body), &[9, 8, 7]);
        }
        // Enhanced coded frames without an offset use CodedFramesX: no SI24 field.
        let mut body = Vec::new();
        let header = VideoTagHeader {
            codec: VideoCodec::AV1,
            packet_type: VideoPacketType::CodedFrames,
            keyframe: true,
            composition_time: 0,
        };
        write_video_tag(&header, &[1], &mut body).unwrap();
        assert_eq!(body, [0x93, b'a', b'v', b'0', b'1', 1]);
    }

    #[test]
    fn video_tags_that_cannot_be_written() {
        let header = |codec, composition_time| VideoTagHeader {
            codec,
            packet_type: VideoPacketType::CodedFrames,
            keyframe: true,
            composition_time,
        };
        let mut out = Vec::new();
        assert!(matches!(
            write_video_tag(&header(VideoCodec::Other(4), 0), &[], &mut out),
            Err(TagWriteError::UnsupportedCodec(_))
        ));
        assert!(write_video_tag(&header(VideoCodec::NONE, 0), &[], &mut out).is_err());
        assert_eq!(
            write_video_tag(&header(VideoCodec::HEVC, 1 << 23), &[], &mut out),
            Err(TagWriteError::CompositionTime(1 << 23))
        );
        let metadata = VideoTagHeader {
            packet_type: VideoPacketType::Metadata,
            ..header(VideoCodec::Avc, 0)
        };
        assert!(write_video_tag(&metadata, &[], &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn written_audio_tags_parse_back() {
        for (codec, packet_type) in [
            (AudioCodec::OPUS, AudioPacketType::SequenceStart),
            (AudioCodec::OPUS, AudioPacketType::CodedFrames),
            (AudioCodec::FLAC, AudioPacketType::CodedFrames),
            (AudioCodec::OPUS, AudioPacketType::SequenceEnd),
            (AudioCodec::Aac, AudioPacketType::SequenceStart),
            (AudioCodec::Aac, AudioPacketType::CodedFrames),
        ] {
            let mut body = Vec::new();
            write_audio_tag(codec, packet_type, &[4, 5], &mut body).unwrap();
            let info = parse_audio_tag(&body).unwrap();
            assert_eq!(info.codec, codec);
            assert_eq!(info.packet_type, packet_type);
            assert_eq!(info.payload(&body), &[4, 5]);
        }
        let mut body = Vec::new();
        write_audio_tag(
            AudioCodec::OPUS,
            AudioPacketType::SequenceStart,
            b"OpusHead",
            &mut body,
        )
        .unwrap();
        assert_eq!(&body[..5], b"\x90Opus");
        let mut out = Vec::new();
        assert!(write_audio_tag(
            AudioCodec::Other(2),
            AudioPacketType::CodedFrames,
            &[],
            &mut out
        )
        .is_err());
        assert!(
            write_audio_tag(AudioCodec::Aac, AudioPacketType::SequenceEnd, &[], &mut out).is_err()
        );
        assert!(out.is_empty());
    }

    #[test]
    fn legacy_video_bodies() {
        let key = parse_video_tag(&[0x17, 1, 0xff, 0xff, 0xdf, 0, 0, 0, 1, 0x65]).unwrap();
        assert!(key.is_keyframe() && !key.is_enhanced() && !key.is_sequence_header());
        assert_eq!(key.codec, VideoCodec::Avc);
        assert_eq!(key.avc_packet_type, Some(AvcPacketType::Nalu));
        assert_eq!(key.composition_time, -33);
        assert_eq!(key.payload_offset, 5);
        assert_eq!(key.payload_end, 10);

        let inter = parse_video_tag(&[0x27, 1, 0, 0, 0x43]).unwrap();
        assert!(!inter.is_keyframe());
        assert_eq!(inter.composition_time, 67);

        let seq = parse_video_tag(&[0x17, 0, 0, 0, 0, 1]).unwrap();
        assert_eq!(seq.avc_packet_type, Some(AvcPacketType::SequenceHeader));
        assert!(seq.is_sequence_header() && !seq.is_keyframe());
        let eos = parse_video_tag(&[0x17, 2, 0, 0, 0]).unwrap();
        assert_eq!(eos.avc_packet_type, Some(AvcPacketType::EndOfSequence));
        assert!(!eos.is_keyframe());

        let command = parse_video_tag(&[0x57, 0]).unwrap();
        assert!(command.is_command() && !command.is_keyframe());
        assert_eq!(command.avc_packet_type, None);

        let vp6 = parse_video_tag(&[0x14, 0]).unwrap();
        assert_eq!(vp6.codec, VideoCodec::Other(4));
        assert!(vp6.is_keyframe());
        assert_eq!(vp6.codec.to_string(), "On2 VP6 (FLV codec id 4)");

        assert_eq!(
            parse_video_tag(&[]),
            Err(TagBodyError::Empty { track: "video" })
        );
        assert!(matches!(
            parse_video_tag(&[0x17, 1, 0]),
            Err(TagBodyError::TooShort {
                have: 3,
                need: 5,
                ..
            })
        ));
        assert_eq!(
            parse_video_tag(&[0x17, 3, 0, 0, 0]),
            Err(TagBodyError::BadAvcPacketType(3))
        );
    }

    #[test]
    fn enhanced_video_bodies() {
        let hevc = parse_video_tag(&[0x90, b'h', b'v', b'c', b'1', 1, 2]).unwrap();
        assert_eq!(hevc.codec, VideoCodec::HEVC);
        assert!(hevc.is_sequence_header() && hevc.is_enhanced() && !hevc.is_keyframe());
        assert_eq!((hevc.payload_offset, hevc.payload_end), (5, 7));
        assert_eq!(hevc.codec.to_string(), "enhanced-RTMP FourCC hvc1");
        assert!(VideoCodec::FourCc([0, 1, 2, 3]).to_string().contains("00"));

        // CodedFrames of hvc1 carry a composition time; of av01 they do not.
        let coded = parse_video_tag(&[0x91, b'h', b'v', b'c', b'1', 0, 0, 0x50, 9]).unwrap();
        assert!(coded.is_keyframe());
        assert_eq!((coded.composition_time, coded.payload_offset), (80, 8));
        let av1 = parse_video_tag(&[0xa1, b'a', b'v', b'0', b'1', 0x12, 0]).unwrap();
        assert!(!av1.is_keyframe() && av1.is_coded_frame());
        assert_eq!((av1.composition_time, av1.payload_offset), (0, 5));
        let x = parse_video_tag(&[0x93, b'h', b'v', b'c', b'1', 7]).unwrap();
        assert!(x.is_keyframe());
        assert_eq!(x.payload_offset, 5);

        // Metadata ignores the frame type; a command frame has no FourCC.
        let meta = parse_video_tag(&[0xd4, b'v', b'p', b'0', b'9', 2]).unwrap();
        assert_eq!(meta.packet_type, Some(VideoPacketType::Metadata));
        assert!(!meta.is_command() && !meta.is_keyframe());
        let command = parse_video_tag(&[0xd1, 1]).unwrap();
        assert_eq!(command.command, Some(1));
        assert!(!command.is_keyframe());
        assert_eq!(command.codec, VideoCodec::NONE);

        let end = parse_video_tag(&[0x92, b'a', b'v', b'0', b'1']).unwrap();
        assert_eq!(end.packet_type, Some(VideoPacketType::SequenceEnd));

        assert!(parse_video_tag(&[0x80, b'h']).is_err());
        assert!(matches!(
            parse_video_tag(&[0x98, b'h', b'v', b'c', b'1']),
            Err(TagBodyError::BadPacketType { value: 8, .. })
        ));
        assert!(parse_video_tag(&[0x91, b'h', b'v', b'c', b'1', 0]).is_err());
    }

    #[test]
    fn mod_ex_nano_offset() {
        // ModEx, 3 bytes of data (size - 1 = 2), type TimestampOffsetNano | CodedFramesX.
        let body = [0x97, 2, 0x0f, 0x42, 0x3f, 0x03, b'a', b'v', b'0', b'1', 5];
        let info = parse_video_tag(&body).unwrap();
        assert_eq!(info.timestamp_offset_nanos, 999_999);
        assert_eq!(info.packet_type, Some(VideoPacketType::CodedFramesX));
        assert_eq!(info.payload(&body), &[5]);
        assert!(info.is_keyframe());
        // A 16-bit size: 0xff then UI16 + 1.
        let mut long = vec![0x97, 0xff, 0x01, 0x00];
        long.extend(std::iter::repeat_n(0, 257));
        long.extend_from_slice(&[0x00, b'v', b'p', b'0', b'9', 1]);
        let info = parse_video_tag(&long).unwrap();
        assert_eq!(info.packet_type, Some(VideoPacketType::SequenceStart));
        assert_eq!(info.payload(&long), &[1]);
        assert!(parse_video_tag(&[0x97, 5, 1, 2]).is_err());

        let audio = [0x97, 2, 0, 0, 7, 0x01, b'O', b'p', b'u', b's', 0xf8];
        let info = parse_audio_tag(&audio).unwrap();
        assert_eq!(info.timestamp_offset_nanos, 7);
        assert_eq!(info.codec, AudioCodec::OPUS);
        assert_eq!(info.payload(&audio), &[0xf8]);
    }

    #[test]
    fn multitrack_video() {
        // OneTrack: multitrack type 0 | CodedFrames, FourCC, track id 2, cts, payload.
        let one = [0x96, 0x01, b'h', b'v', b'c', b'1', 2, 0, 0, 40, 0xaa];
        let info = parse_video_tag(&one).unwrap();
        assert_eq!(info.multitrack, Some(MultitrackType::OneTrack));
        assert_eq!((info.track_id, info.composition_time), (2, 40));
        assert_eq!(info.payload(&one), &[0xaa]);
        assert!(info.is_keyframe());
        assert_eq!(info.tracks(&one).count(), 1);

        // ManyTracks: two av01 tracks with sizes.
        let many = [
            0x96, 0x13, b'a', b'v', b'0', b'1', 0, 0, 0, 2, 1, 2, 5, 0, 0, 1, 3,
        ];
        let info = parse_video_tag(&many).unwrap();
        let tracks: Vec<_> = info.tracks(&many).collect();
        assert_eq!(tracks.len(), 2);
        assert_eq!(tracks[0].payload(&many), &[1, 2]);
        assert_eq!(
            (tracks[1].track_id, tracks[1].payload(&many)),
            (5, &[3][..])
        );
        let ids: Vec<u8> = MediaTagInfo::Video(info).track_ids(&many).collect();
        assert_eq!(ids, [0, 5]);

        // ManyTracksManyCodecs: a FourCC per track.
        let mixed = [
            0x96, 0x20, b'h', b'v', b'c', b'1', 0, 0, 0, 1, 9, b'a', b'v', b'0', b'1', 1, 0, 0, 1,
            8,
        ];
        let info = parse_video_tag(&mixed).unwrap();
        assert!(info.is_sequence_header());
        let tracks: Vec<_> = info.tracks(&mixed).collect();
        assert_eq!(tracks[0].codec, VideoCodec::HEVC);
        assert_eq!(tracks[1].codec, VideoCodec::AV1);
        assert_eq!(info.track(&mixed, 1).unwrap().payload(&mixed), &[8]);

        // A size past the end is an error naming the track, not a panic.
        let mut bad = many;
        bad[9] = 9;
        assert!(matches!(
            parse_video_tag(&bad),
            Err(TagBodyError::TrackOverrun { track_id: 0, .. })
        ));
        assert!(matches!(
            parse_video_tag(&[0x96, 0x31, b'a', b'v', b'0', b'1', 0]),
            Err(TagBodyError::BadMultitrackType { value: 3, .. })
        ));

        let single = video_track_as_message(&many, 5).unwrap();
        assert_eq!(single, [0x93, b'a', b'v', b'0', b'1', 3]);
        let single = video_track_as_message(&one, 2).unwrap();
        assert_eq!(single, [0x91, b'h', b'v', b'c', b'1', 0, 0, 40, 0xaa]);
        assert!(video_track_as_message(&one, 3).is_none());
    }

    #[test]
    fn legacy_audio_bodies() {
        let raw = parse_audio_tag(&[0xaf, 1, 0x21]).unwrap();
        assert_eq!(raw.codec, AudioCodec::Aac);
        assert_eq!(raw.aac_packet_type, Some(AacPacketType::Raw));
        assert_eq!(raw.packet_type, AudioPacketType::CodedFrames);
        assert_eq!(raw.payload_offset, 2);
        assert_eq!((raw.sound_rate, raw.sound_size, raw.sound_type), (3, 1, 1));

        let seq = parse_audio_tag(&[0xaf, 0, 0x12, 0x10]).unwrap();
        assert_eq!(seq.aac_packet_type, Some(AacPacketType::SequenceHeader));
        assert!(seq.is_sequence_header());

        let mp3 = parse_audio_tag(&[0x2f, 0xff, 0xfb]).unwrap();
        assert_eq!(mp3.codec, AudioCodec::Other(2));
        assert_eq!(mp3.payload_offset, 1);
        assert_eq!(mp3.codec.to_string(), "MP3 (FLV sound format 2)");
        assert_eq!(mp3.codec.fourcc(), Some(*b".mp3"));

        assert_eq!(
            parse_audio_tag(&[]),
            Err(TagBodyError::Empty { track: "audio" })
        );
        assert!(matches!(
            parse_audio_tag(&[0xaf]),
            Err(TagBodyError::TooShort {
                what: "AACPacketType",
                ..
            })
        ));
        assert_eq!(
            parse_audio_tag(&[0xaf, 2]),
            Err(TagBodyError::BadAacPacketType(2))
        );
    }

    #[test]
    fn enhanced_audio_bodies() {
        let opus = parse_audio_tag(&[0x90, b'O', b'p', b'u', b's', 1]).unwrap();
        assert_eq!(opus.codec, AudioCodec::OPUS);
        assert!(opus.is_sequence_header() && opus.is_enhanced());
        let channels = parse_audio_tag(&[0x94, b'O', b'p', b'u', b's', 1, 1, 0, 0, 0, 4]).unwrap();
        assert_eq!(channels.packet_type, AudioPacketType::MultichannelConfig);
        let flac = parse_audio_tag(&[0x91, b'f', b'L', b'a', b'C', 0xff, 0xf8]).unwrap();
        assert_eq!(flac.codec, AudioCodec::FLAC);
        assert!(flac.is_coded_frame());
        assert!(matches!(
            parse_audio_tag(&[0x93, b'O', b'p', b'u', b's']),
            Err(TagBodyError::BadPacketType { value: 3, .. })
        ));

        // Multitrack: ManyTracks of Opus, tracks 0 and 1.
        let many = [
            0x95, 0x11, b'O', b'p', b'u', b's', 0, 0, 0, 1, 0xf8, 1, 0, 0, 2, 0xf8, 0xf9,
        ];
        let info = parse_audio_tag(&many).unwrap();
        assert_eq!(info.multitrack, Some(MultitrackType::ManyTracks));
        let tracks: Vec<_> = info.tracks(&many).collect();
        assert_eq!(tracks.len(), 2);
        assert_eq!(tracks[1].payload(&many), &[0xf8, 0xf9]);
        assert_eq!(
            audio_track_as_message(&many, 1).unwrap(),
            [0x91, b'O', b'p', b'u', b's', 0xf8, 0xf9]
        );
        let mut bad = many;
        bad[13] = 200;
        assert!(matches!(
            parse_audio_tag(&bad),
            Err(TagBodyError::TrackOverrun { track_id: 1, .. })
        ));
    }

    #[test]
    fn unified_model() {
        let v = parse_media_tag(TrackKind::Video, &[0x91, b'v', b'p', b'0', b'9', 0x82]).unwrap();
        assert!(v.is_keyframe() && v.is_enhanced() && !v.is_sequence_header());
        assert_eq!(v.codec(), Codec::Video(VideoCodec::VP9));
        assert_eq!(v.kind(), TrackKind::Video);
        let a = parse_media_tag(TrackKind::Audio, &[0xaf, 0, 0x12, 0x10]).unwrap();
        assert!(a.is_sequence_header() && !a.is_keyframe() && !a.is_enhanced());
        assert_eq!(a.codec(), Codec::Audio(AudioCodec::Aac));
        assert_eq!(a.track_id(), 0);
        assert!(VideoCodec::Avc.is_avc() && VideoCodec::AVC_FOURCC.is_avc());
        assert!(AudioCodec::AAC_FOURCC.is_aac());
        assert_eq!(VideoCodec::NONE.fourcc(), None);
    }
}
