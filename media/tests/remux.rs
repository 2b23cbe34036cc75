//! Remuxer behaviour on hand-built tags: track decisions, timing, held-back samples, codec
//! changes, resets, unsupported codecs and malformed input.

mod common;

use common::{parse_fragment, Traf};
use rtmpws_media::flv::{AudioCodec, VideoCodec};
use rtmpws_media::fmp4::{Codec, TrackKind};
use rtmpws_media::{RemuxConfig, RemuxError, RemuxOutput, Remuxer};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The AVCDecoderConfigurationRecord ffmpeg/x264 writes for 640x360 High@3.0.
fn record() -> Vec<u8> {
    hex("0164001effe1001a6764001eacd940a02ff970110000030001000003003c0f162d9601000668ebe3cb22c0fdf8f800")
}

/// The same stream at level 3.1: a different sequence header with the same picture size.
fn record_level_31() -> Vec<u8> {
    let mut r = record();
    r[3] = 0x1f;
    r[8 + 3] = 0x1f;
    r
}

const ASC_44100_MONO: [u8; 2] = [0x12, 0x08];
const ASC_48000_STEREO: [u8; 2] = [0x11, 0x90];

fn avc_seq(record: &[u8]) -> Vec<u8> {
    let mut body = vec![0x17, 0, 0, 0, 0];
    body.extend_from_slice(record);
    body
}

fn avc_frame(key: bool, cts: i32, nal: &[u8]) -> Vec<u8> {
    let mut body = vec![if key { 0x17 } else { 0x27 }, 1];
    body.extend_from_slice(&cts.to_be_bytes()[1..]);
    body.extend_from_slice(&(nal.len() as u32).to_be_bytes());
    body.extend_from_slice(nal);
    body
}

fn aac_seq(asc: &[u8]) -> Vec<u8> {
    let mut body = vec![0xaf, 0];
    body.extend_from_slice(asc);
    body
}

fn aac_frame(payload: &[u8]) -> Vec<u8> {
    let mut body = vec![0xaf, 1];
    body.extend_from_slice(payload);
    body
}

fn drain(r: &mut Remuxer) -> Vec<RemuxOutput> {
    std::iter::from_fn(|| r.poll_output()).collect()
}

fn is_init(o: &RemuxOutput) -> bool {
    matches!(o, RemuxOutput::Init { .. })
}

/// The trafs of every media output, in order.
fn fragments(outputs: &[RemuxOutput]) -> Vec<Vec<Traf>> {
    outputs
        .iter()
        .filter_map(|o| match o {
            RemuxOutput::Media { data, .. } => {
                assert_eq!(data.len(), data.capacity(), "media buffer sized exactly");
                Some(parse_fragment(data).1)
            }
            _ => None,
        })
        .collect()
}

fn track(fragment: &[Traf], id: u32) -> Option<&Traf> {
    fragment.iter().find(|t| t.track_id == id)
}

const VIDEO: u32 = 1;
const AUDIO: u32 = 2;

fn av_remuxer() -> Remuxer {
    let mut r = Remuxer::new(RemuxConfig::default());
    r.push_video(0, &avc_seq(&record())).unwrap();
    r.push_audio(0, &aac_seq(&ASC_44100_MONO)).unwrap();
    r
}

#[test]
fn waits_for_both_sequence_headers() {
    let mut r = Remuxer::new(RemuxConfig::default());
    r.push_video(0, &avc_seq(&record())).unwrap();
    r.push_video(0, &avc_frame(true, 0, b"key")).unwrap();
    r.push_video(33, &avc_frame(false, 0, b"p")).unwrap();
    assert!(
        drain(&mut r).is_empty(),
        "no init before the audio track is known"
    );
    assert!(!r.is_initialized());
    r.push_audio(10, &aac_seq(&ASC_44100_MONO)).unwrap();
    let out = drain(&mut r);
    assert_eq!(out.len(), 1);
    let RemuxOutput::Init {
        mime,
        has_audio,
        has_video,
        width,
        height,
        data,
    } = &out[0]
    else {
        panic!("expected init")
    };
    assert_eq!(mime, "video/mp4; codecs=\"avc1.64001e,mp4a.40.2\"");
    assert!(*has_audio && *has_video);
    assert_eq!((*width, *height), (640, 360));
    let top = common::boxes(data);
    assert_eq!(&top[0].0, b"ftyp");
    assert_eq!(&top[1].0, b"moov");
    let moov = top[1].1;
    let traks = common::boxes(moov)
        .into_iter()
        .filter(|(k, _)| k == b"trak")
        .count();
    assert_eq!(traks, 2);

    // The frames queued while waiting are not lost.
    r.flush(true);
    let frags = fragments(&drain(&mut r));
    assert_eq!(frags.len(), 1);
    let v = track(&frags[0], VIDEO).unwrap();
    assert_eq!(v.data, [0, 0, 0, 3, b'k', b'e', b'y', 0, 0, 0, 1, b'p']);
}

#[test]
fn single_track_after_track_wait() {
    let mut r = Remuxer::new(RemuxConfig::default());
    r.push_video(0, &avc_seq(&record())).unwrap();
    let mut ts = 0;
    while !r.is_initialized() {
        r.push_video(ts, &avc_frame(ts == 0, 0, b"x")).unwrap();
        ts += 100;
        assert!(ts <= 1100, "gave up waiting for audio too late");
    }
    assert_eq!(ts, 1100, "init once frames span track_wait_ms");
    let out = drain(&mut r);
    assert!(matches!(
        &out[0],
        RemuxOutput::Init {
            has_audio: false,
            has_video: true,
            ..
        }
    ));
    // A late audio track is ignored: a SourceBuffer cannot gain a track.
    r.push_audio(1100, &aac_seq(&ASC_44100_MONO)).unwrap();
    r.push_audio(1100, &aac_frame(b"a")).unwrap();
    r.flush(true);
    let frags = fragments(&drain(&mut r));
    assert_eq!(frags.len(), 1);
    assert!(track(&frags[0], AUDIO).is_none());
    assert_eq!(track(&frags[0], VIDEO).unwrap().samples.len(), 11);
}

#[test]
fn expected_tracks_skip_the_wait() {
    let mut r = Remuxer::new(RemuxConfig::default());
    r.expect_tracks(true, false);
    r.push_audio(0, &aac_seq(&ASC_44100_MONO)).unwrap();
    let out = drain(&mut r);
    assert!(matches!(
        &out[..],
        [RemuxOutput::Init { has_audio: true, has_video: false, mime, .. }]
            if mime == "audio/mp4; codecs=\"mp4a.40.2\""
    ));

    // Announced but missing: waits expected_track_wait_ms, then goes without it.
    let mut r = Remuxer::new(RemuxConfig::default());
    r.expect_tracks(true, true);
    r.push_video(0, &avc_seq(&record())).unwrap();
    let mut ts = 0;
    while !r.is_initialized() {
        r.push_video(ts, &avc_frame(ts == 0, 0, b"x")).unwrap();
        ts += 500;
        assert!(ts <= 5500);
    }
    assert_eq!(ts, 5500);
}

#[test]
fn held_back_sample_and_end_of_stream() {
    let mut r = av_remuxer();
    drain(&mut r);
    r.push_video(1000, &avc_frame(true, 66, b"I")).unwrap();
    r.push_video(1033, &avc_frame(false, 100, b"P")).unwrap();
    r.push_video(1067, &avc_frame(false, -33, b"B")).unwrap();
    r.flush(false);
    let frags = fragments(&drain(&mut r));
    assert_eq!(r.timeline_base_ms(), Some(1000));
    let v = track(&frags[0], VIDEO).unwrap();
    assert_eq!(v.base_decode_time, 0);
    let got: Vec<(u32, u32, i32)> = v
        .samples
        .iter()
        .map(|s| (s.duration, s.flags, s.cto))
        .collect();
    assert_eq!(got, [(33, 0x0200_0000, 66), (34, 0x0101_0000, 100)]);

    r.flush(false);
    assert!(
        drain(&mut r).is_empty(),
        "one queued sample stays held back"
    );
    r.flush(true);
    let frags = fragments(&drain(&mut r));
    let v = track(&frags[0], VIDEO).unwrap();
    assert_eq!(v.base_decode_time, 67);
    assert_eq!(v.samples.len(), 1);
    assert_eq!(
        v.samples[0].duration, 34,
        "last duration repeats at end of stream"
    );
    assert_eq!(v.samples[0].cto, -33);
    assert_eq!(v.data, [0, 0, 0, 1, b'B']);
}

#[test]
fn media_output_metadata() {
    let mut r = av_remuxer();
    drain(&mut r);
    r.push_video(0, &avc_frame(true, 0, b"I")).unwrap();
    r.push_audio(0, &aac_frame(b"a0")).unwrap();
    r.push_audio(23, &aac_frame(b"a1")).unwrap();
    r.push_video(33, &avc_frame(false, 0, b"P")).unwrap();
    r.push_audio(46, &aac_frame(b"a2")).unwrap();
    r.push_video(67, &avc_frame(false, 0, b"P")).unwrap();
    r.flush(false);
    let out = drain(&mut r);
    let RemuxOutput::Media {
        start_ms,
        end_ms,
        has_keyframe,
        data,
    } = &out[0]
    else {
        panic!()
    };
    assert!(*has_keyframe);
    assert_eq!(*start_ms, 0.0);
    // video ends at 67 ms, audio after 2 frames at 2048/44100 s = 46.4 ms.
    assert_eq!(*end_ms, 67.0);
    let (seq, trafs) = parse_fragment(data);
    assert_eq!(seq, 1);
    let a = track(&trafs, AUDIO).unwrap();
    assert_eq!(
        a.samples.iter().map(|s| s.duration).collect::<Vec<_>>(),
        [1024, 1024]
    );
    assert!(a.samples.iter().all(|s| s.flags == 0x0200_0000));
    assert_eq!(a.data, b"a0a1");

    r.push_video(100, &avc_frame(false, 0, b"P")).unwrap();
    r.flush(false);
    let out = drain(&mut r);
    let RemuxOutput::Media {
        has_keyframe, data, ..
    } = &out[0]
    else {
        panic!()
    };
    assert!(!has_keyframe);
    assert_eq!(parse_fragment(data).0, 2, "sequence numbers increase");
}

#[test]
fn audio_follows_frames_and_reanchors_after_a_drift() {
    let mut r = Remuxer::new(RemuxConfig::default());
    r.expect_tracks(true, false);
    r.push_audio(0, &aac_seq(&ASC_44100_MONO)).unwrap();
    // Millisecond-rounded timestamps of 1024-sample frames: the counter wins.
    for i in 0..10u32 {
        r.push_audio(i * 1024 * 1000 / 44100, &aac_frame(&[i as u8]))
            .unwrap();
    }
    // 100 ms of audio missing (more than one frame): re-anchor to the timestamp.
    r.push_audio(332, &aac_frame(b"late")).unwrap();
    r.push_audio(355, &aac_frame(b"next")).unwrap();
    r.flush(true);
    let frags = fragments(&drain(&mut r));
    assert_eq!(
        frags.len(),
        1,
        "a 100 ms gap stretches a sample, no new fragment"
    );
    let a = track(&frags[0], AUDIO).unwrap();
    assert_eq!(a.base_decode_time, 0);
    let durations: Vec<u32> = a.samples.iter().map(|s| s.duration).collect();
    // Frame 9 ends where the re-anchored frame starts: 332 ms = 14641 units.
    assert_eq!(&durations[..9], &[1024; 9]);
    assert_eq!(durations[9], 14641 - 9 * 1024);
    assert_eq!(durations[10], 1024);
    assert_eq!(durations[11], 1024);
}

#[test]
fn gaps_become_a_jump_in_tfdt() {
    let mut r = av_remuxer();
    drain(&mut r);
    for ts in [0, 33, 67] {
        r.push_video(ts, &avc_frame(ts == 0, 0, b"v")).unwrap();
    }
    for ts in [5000, 5033] {
        r.push_video(ts, &avc_frame(false, 0, b"v")).unwrap();
    }
    r.flush(true);
    let out = drain(&mut r);
    let frags = fragments(&out);
    assert_eq!(frags.len(), 2);
    let first = track(&frags[0], VIDEO).unwrap();
    let second = track(&frags[1], VIDEO).unwrap();
    assert_eq!(first.base_decode_time, 0);
    assert_eq!(
        first.samples.iter().map(|s| s.duration).collect::<Vec<_>>(),
        [33, 34, 34],
        "the sample before a gap keeps a normal duration"
    );
    assert_eq!(second.base_decode_time, 5000);
    assert_eq!(second.samples.len(), 2);
}

#[test]
fn backwards_and_equal_timestamps_stay_monotonic() {
    let mut r = av_remuxer();
    drain(&mut r);
    for ts in [100, 133, 133, 120, 166, 200, 50, 233, 266] {
        r.push_video(ts, &avc_frame(ts == 100, 0, b"v")).unwrap();
        r.flush(false);
    }
    r.flush(true);
    let frags = fragments(&drain(&mut r));
    let mut end = 0u64;
    let mut count = 0;
    for f in &frags {
        let v = track(f, VIDEO).unwrap();
        assert!(v.base_decode_time >= end, "tfdt went back");
        assert!(v.samples.iter().all(|s| s.duration >= 1));
        end = v.base_decode_time + v.samples.iter().map(|s| u64::from(s.duration)).sum::<u64>();
        count += v.samples.len();
    }
    assert_eq!(count, 9);
    assert_eq!(end, 166 + 33, "caught up with the timestamps");
}

#[test]
fn waits_for_a_keyframe_and_drops_unplayable_frames() {
    let mut r = av_remuxer();
    drain(&mut r);
    r.push_video(0, &avc_frame(false, 0, b"p")).unwrap();
    r.push_video(33, &avc_frame(true, 0, b"I")).unwrap();
    r.push_video(50, &[0x17, 2, 0, 0, 0]).unwrap(); // end of sequence
    r.push_video(50, &[0x57, 0]).unwrap(); // command frame
    r.push_video(50, &[0x27, 1, 0, 0, 0]).unwrap(); // empty frame
    r.push_audio(50, &[0xaf, 1]).unwrap(); // empty frame
    r.push_video(67, &avc_frame(false, 0, b"p")).unwrap();
    r.flush(true);
    let frags = fragments(&drain(&mut r));
    assert_eq!(r.timeline_base_ms(), Some(33));
    let v = track(&frags[0], VIDEO).unwrap();
    assert_eq!(v.samples.len(), 2);
    assert_eq!(v.samples[0].flags, 0x0200_0000);
}

#[test]
fn new_sequence_header_flushes_then_reinits() {
    let mut r = av_remuxer();
    drain(&mut r);
    r.push_video(0, &avc_frame(true, 0, b"I")).unwrap();
    r.push_audio(0, &aac_frame(b"a")).unwrap();
    r.push_video(33, &avc_frame(false, 0, b"P")).unwrap();
    r.push_audio(23, &aac_frame(b"b")).unwrap();
    // The same header again changes nothing.
    r.push_video(40, &avc_seq(&record())).unwrap();
    r.push_audio(40, &aac_seq(&ASC_44100_MONO)).unwrap();
    assert!(drain(&mut r).is_empty());

    r.push_video(67, &avc_seq(&record_level_31())).unwrap();
    let out = drain(&mut r);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(!is_init(&out[0]) && is_init(&out[1]));
    let RemuxOutput::Init { mime, .. } = &out[1] else {
        panic!()
    };
    assert!(mime.contains("avc1.64001f"));
    let frags = fragments(&out[..1]);
    assert_eq!(
        track(&frags[0], VIDEO).unwrap().samples.len(),
        2,
        "video flushed whole"
    );
    assert_eq!(
        track(&frags[0], AUDIO).unwrap().samples.len(),
        1,
        "audio still holds back"
    );

    // Frames before a keyframe under the new parameters are dropped.
    r.push_video(67, &avc_frame(false, 0, b"P")).unwrap();
    r.push_video(100, &avc_frame(true, 0, b"I")).unwrap();

    // Audio config change: new timescale.
    r.push_audio(46, &aac_frame(b"c")).unwrap();
    r.push_audio(70, &aac_seq(&ASC_48000_STEREO)).unwrap();
    let out = drain(&mut r);
    assert_eq!(out.len(), 2);
    assert!(is_init(&out[1]));
    let a = track(&fragments(&out[..1])[0], AUDIO).unwrap().clone();
    assert_eq!(a.data, b"bc");
    let audio_end_44k = a.base_decode_time + 2048;
    r.push_audio(70, &aac_frame(b"d")).unwrap();
    r.push_video(133, &avc_frame(false, 0, b"P")).unwrap();
    r.flush(true);
    let frags = fragments(&drain(&mut r));
    let a = track(&frags[0], AUDIO).unwrap();
    let v = track(&frags[0], VIDEO).unwrap();
    assert_eq!(v.data, [0, 0, 0, 1, b'I', 0, 0, 0, 1, b'P']);
    assert_eq!(v.base_decode_time, 100);
    assert_eq!(a.samples.len(), 1);
    assert_eq!(
        a.base_decode_time,
        70 * 48,
        "re-anchored in the new timescale"
    );
    assert!(a.base_decode_time >= audio_end_44k * 48000 / 44100);
}

#[test]
fn reset_restarts_the_timeline_without_a_redundant_init() {
    let mut r = av_remuxer();
    r.push_video(5000, &avc_frame(true, 0, b"I")).unwrap();
    r.push_audio(5000, &aac_frame(b"a")).unwrap();
    r.flush(true);
    let out = drain(&mut r);
    assert_eq!(out.iter().filter(|o| is_init(o)).count(), 1);
    assert_eq!(r.timeline_base_ms(), Some(5000));

    r.push_video(5033, &avc_frame(false, 0, b"P")).unwrap(); // queued, then forgotten
    r.reset();
    assert!(!r.is_initialized());
    assert_eq!(r.queued_bytes(), 0);
    // A new play resends the same headers, then starts at another time.
    r.push_video(90_000, &avc_seq(&record())).unwrap();
    r.push_audio(90_000, &aac_seq(&ASC_44100_MONO)).unwrap();
    r.push_video(90_000, &avc_frame(false, 0, b"P")).unwrap(); // not a keyframe: dropped
    r.push_video(90_010, &avc_frame(true, 0, b"I")).unwrap();
    r.push_audio(90_010, &aac_frame(b"a")).unwrap();
    r.flush(true);
    let out = drain(&mut r);
    assert!(out.iter().all(|o| !is_init(o)), "same codecs: no new init");
    assert_eq!(r.timeline_base_ms(), Some(90_010));
    let frags = fragments(&out);
    assert_eq!(track(&frags[0], VIDEO).unwrap().base_decode_time, 0);
    assert_eq!(track(&frags[0], AUDIO).unwrap().base_decode_time, 0);
}

#[test]
fn reset_to_a_stream_without_video_reinits() {
    let mut r = av_remuxer();
    r.push_video(0, &avc_frame(true, 0, b"I")).unwrap();
    r.flush(true);
    drain(&mut r);
    r.reset();
    // Only audio arrives: the kept video config is stale and does not count.
    r.push_audio(0, &aac_seq(&ASC_44100_MONO)).unwrap();
    let mut ts = 0;
    while !r.is_initialized() {
        r.push_audio(ts, &aac_frame(b"a")).unwrap();
        ts += 23;
        assert!(ts < 1100);
    }
    let out = drain(&mut r);
    assert!(matches!(
        &out[0],
        RemuxOutput::Init {
            has_video: false,
            has_audio: true,
            ..
        }
    ));
}

#[test]
fn unsupported_codecs() {
    // VP6 video next to AAC audio: the video track is ignored.
    let mut r = Remuxer::new(RemuxConfig::default());
    r.push_video(0, &[0x14, 0, 1, 2]).unwrap();
    r.push_audio(0, &aac_seq(&ASC_44100_MONO)).unwrap();
    let out = drain(&mut r);
    assert!(matches!(
        &out[..],
        [RemuxOutput::Init {
            has_video: false,
            ..
        }]
    ));
    r.push_video(33, &[0x24, 0, 1, 2]).unwrap();

    // Announced as the only track: nothing left to play.
    let mut r = Remuxer::new(RemuxConfig::default());
    r.expect_tracks(false, true);
    let err = r
        .push_video(0, &[0x90, b'v', b'v', b'c', b'1'])
        .unwrap_err();
    assert!(err.is_unsupported_codec());
    assert_eq!(
        err,
        RemuxError::UnsupportedCodec {
            codec: Codec::Video(VideoCodec::VVC)
        }
    );
    assert!(err.to_string().contains("vvc1"), "{err}");

    // MP3 audio with no video: an error once the wait for video is over.
    let mut r = Remuxer::new(RemuxConfig::default());
    let mut result = Ok(());
    for ts in (0..=1100).step_by(26) {
        result = r.push_audio(ts, &[0x2f, 0xff, 0xfb, 0x90]);
        if result.is_err() {
            break;
        }
    }
    let err = result.unwrap_err();
    assert_eq!(
        err,
        RemuxError::UnsupportedCodec {
            codec: Codec::Audio(AudioCodec::Other(2))
        }
    );
    if let RemuxError::UnsupportedCodec { codec } = &err {
        assert_eq!(codec.track(), TrackKind::Audio);
    }

    // A playing track switching to an unsupported codec is fatal.
    let mut r = av_remuxer();
    assert!(r.is_initialized());
    assert!(r
        .push_audio(0, &[0x2f, 0xff])
        .unwrap_err()
        .is_unsupported_codec());
}

#[test]
fn malformed_bodies_are_typed_errors_and_recoverable() {
    let mut r = av_remuxer();
    drain(&mut r);
    assert!(matches!(r.push_video(0, &[]), Err(RemuxError::VideoTag(_))));
    assert!(matches!(r.push_audio(0, &[]), Err(RemuxError::AudioTag(_))));
    assert!(matches!(
        r.push_video(0, &avc_seq(&[1, 2, 3])),
        Err(RemuxError::AvcConfig(_))
    ));
    assert!(matches!(
        r.push_audio(0, &aac_seq(&[0x00, 0x00])),
        Err(RemuxError::AacConfig(_))
    ));
    let mut overrun = avc_frame(true, 0, b"abc");
    overrun[8] = 9; // NALU length 9, 3 bytes follow
    let err = r.push_video(0, &overrun).unwrap_err();
    assert_eq!(
        err,
        RemuxError::NaluOverrun {
            timestamp_ms: 0,
            offset: 0,
            declared: 9,
            remaining: 3
        }
    );
    assert!(!err.is_unsupported_codec());
    let mut cut = avc_frame(true, 0, b"abc");
    cut.extend_from_slice(&[0, 0]);
    assert!(matches!(
        r.push_video(0, &cut),
        Err(RemuxError::NaluLengthTruncated {
            offset: 7,
            length_size: 4,
            ..
        })
    ));
    // Still works afterwards, with the original configuration.
    r.push_video(0, &avc_frame(true, 0, b"ok")).unwrap();
    r.flush(true);
    let frags = fragments(&drain(&mut r));
    assert_eq!(
        track(&frags[0], VIDEO).unwrap().data,
        [0, 0, 0, 2, b'o', b'k']
    );
}

#[test]
fn queue_limit_forces_output() {
    let mut r = Remuxer::new(RemuxConfig {
        max_queued_bytes: 10_000,
        ..RemuxConfig::default()
    });
    r.push_video(0, &avc_seq(&record())).unwrap();
    // Same timestamp forever: the track wait never expires, the queue limit must.
    for i in 0..100 {
        r.push_video(0, &avc_frame(i == 0, 0, &[0u8; 500])).unwrap();
        assert!(r.queued_bytes() <= 10_000 + 1000);
    }
    let out = drain(&mut r);
    assert!(is_init(&out[0]));
    assert!(out.len() > 2);
}

/// An Opus encoder fed at 44.1 kHz says so in OpusHead; the dOps written says 48 kHz, the rate
/// of the sample entry, which Chromium requires the two to agree on.
#[test]
fn opus_dops_input_rate_is_the_sample_entry_rate() {
    let mut head = b"\x90OpusOpusHead\x01\x02\x38\x01".to_vec();
    head.extend_from_slice(&44100u32.to_le_bytes());
    head.extend_from_slice(&[0, 0, 0]);
    let mut r = Remuxer::new(RemuxConfig::default());
    r.expect_tracks(true, false);
    r.push_audio(0, &head).unwrap();
    for i in 0..5u32 {
        r.push_audio(i * 20, b"\x91Opus\xfc\xff\xfe").unwrap();
    }
    r.flush(true);
    let Some(RemuxOutput::Init { data, .. }) = r.poll_output() else {
        panic!("no init segment");
    };
    let at = data
        .windows(4)
        .position(|w| w == b"dOps")
        .expect("no dOps box")
        + 4;
    assert_eq!(data[at + 1], 2, "channels");
    assert_eq!(data[at + 4..at + 8], 48000u32.to_be_bytes());
}
