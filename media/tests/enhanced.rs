//! Enhanced FLV made by FFmpeg 9 (HEVC, AV1, VP9, Opus, FLAC): every tag parses, keyframes and
//! sequence headers are where FFmpeg put them, and the remuxed fMP4 decodes in FFmpeg with
//! every frame and the codecs unchanged.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use rtmpws_media::flv::TagKind;
use rtmpws_media::tag::{parse_audio_tag, parse_video_tag, AudioCodec, VideoCodec};
use rtmpws_media::RemuxOutput;

/// Writes a 2 s 320x240 clip with one keyframe a second.
fn make_flv(path: &Path, video: &[&str], audio: &[&str], rate: u32) {
    let mut cmd = Command::new(ffmpeg9());
    cmd.args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=320x240:rate=25")
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:sample_rate={rate}"))
        .args(["-t", "2", "-g", "25"])
        .args(video)
        .args(audio)
        .args(["-f", "flv"])
        .arg(path);
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What FFmpeg 9 decodes from a file: codec names per stream and frames per stream.
struct Decoded {
    video_codec: String,
    audio_codec: String,
    video_frames: usize,
    audio_frames: usize,
}

fn decode(path: &Path) -> Decoded {
    // framecrc writes one line per decoded frame, "stream_index, dts, pts, duration, ...".
    let out = run(Command::new(ffmpeg9())
        .args(["-hide_banner", "-i"])
        .arg(path)
        .args(["-f", "framecrc", "-"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for bad in ["Invalid", "error", "corrupt", "missing"] {
        assert!(
            !stderr.contains(bad),
            "ffmpeg complained ({bad}) decoding {}:\n{stderr}",
            path.display()
        );
    }
    let codec = |kind: &str| {
        stderr
            .lines()
            .take_while(|l| !l.starts_with("Stream mapping"))
            .filter_map(|l| l.split_once(&format!(": {kind}: ")))
            .map(|(_, rest)| rest.split([' ', ',']).next().unwrap_or("").to_owned())
            .next()
            .unwrap_or_default()
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let frames = |index: &str| {
        stdout
            .lines()
            .filter(|l| l.split(',').next().map(str::trim) == Some(index))
            .count()
    };
    let (video_codec, audio_codec) = (codec("Video"), codec("Audio"));
    // Streams are numbered in file order; the video stream comes first in both files.
    Decoded {
        video_frames: frames(if video_codec.is_empty() { "x" } else { "0" }),
        audio_frames: frames(if video_codec.is_empty() { "0" } else { "1" }),
        video_codec,
        audio_codec,
    }
}

fn check(
    name: &str,
    video: &[&str],
    audio: &[&str],
    rate: u32,
    codecs: (VideoCodec, AudioCodec),
    mime: &str,
    names: (&str, &str),
) {
    let dir = TempDir::new(name);
    let input = dir.path("in.flv");
    make_flv(&input, video, audio, rate);
    let (_, tags) = read_flv(&input);

    // Every tag parses; the codecs and keyframes are what FFmpeg wrote.
    let (mut keyframes, mut video_headers, mut audio_headers, mut pictures) = (0, 0, 0, 0);
    for tag in &tags {
        match tag.kind {
            TagKind::Video => {
                let info = parse_video_tag(&tag.data).expect("video tag parses");
                assert!(info.is_enhanced() || codecs.0 == VideoCodec::Avc);
                if info.is_command() {
                    continue;
                }
                assert_eq!(info.codec, codecs.0, "at {} ms", tag.timestamp);
                keyframes += usize::from(info.is_keyframe());
                video_headers += usize::from(info.is_sequence_header());
                pictures += usize::from(info.is_coded_frame());
                assert!(!(info.is_keyframe() && info.is_sequence_header()));
            }
            TagKind::Audio => {
                let info = parse_audio_tag(&tag.data).expect("audio tag parses");
                assert!(info.is_enhanced());
                assert_eq!(info.codec, codecs.1);
                audio_headers += usize::from(info.is_sequence_header());
            }
            _ => {}
        }
    }
    // FFmpeg rewrites FLAC's STREAMINFO at the end (with the sample count): a second header.
    assert_eq!(video_headers, 1, "{name}");
    assert!((1..=2).contains(&audio_headers), "{name}");
    assert_eq!(pictures, 50, "{name}: 2 s at 25 fps");
    assert_eq!(keyframes, 2, "{name}: -g 25 over 50 frames");

    // Remux and let FFmpeg decode the result.
    let (_, outputs) = remux(&tags, None, 5);
    let Some(RemuxOutput::Init {
        mime: got,
        width,
        height,
        ..
    }) = outputs.first()
    else {
        panic!("{name}: no init segment first: {outputs:?}");
    };
    assert_eq!(got, mime, "{name}");
    assert_eq!((*width, *height), (320, 240), "{name}");
    let mp4 = dir.path("out.mp4");
    std::fs::write(&mp4, concat(&outputs)).unwrap();
    let source = decode(&input);
    let remuxed = decode(&mp4);
    assert_eq!(
        (remuxed.video_codec.as_str(), remuxed.audio_codec.as_str()),
        names,
        "{name}"
    );
    assert_eq!(source.video_codec, remuxed.video_codec);
    assert_eq!(remuxed.video_frames, 50, "{name}: every picture decodes");
    assert_eq!(remuxed.video_frames, source.video_frames, "{name}");
    assert_eq!(
        remuxed.audio_frames, source.audio_frames,
        "{name}: every audio frame decodes"
    );
}

#[test]
fn hevc_and_opus() {
    check(
        "hevc",
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error",
        ],
        &["-c:a", "libopus"],
        48000,
        (VideoCodec::HEVC, AudioCodec::OPUS),
        "video/mp4; codecs=\"hvc1.1.6.L60.90,opus\"",
        ("hevc", "opus"),
    );
}

#[test]
fn av1_and_opus() {
    check(
        "av1",
        &[
            "-c:v",
            "libsvtav1",
            "-preset",
            "12",
            "-svtav1-params",
            "lp=1",
        ],
        &["-c:a", "libopus"],
        48000,
        (VideoCodec::AV1, AudioCodec::OPUS),
        "video/mp4; codecs=\"av01.0.00M.08,opus\"",
        ("av1", "opus"),
    );
}

#[test]
fn vp9_and_opus() {
    check(
        "vp9",
        &[
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
        ],
        &["-c:a", "libopus"],
        48000,
        (VideoCodec::VP9, AudioCodec::OPUS),
        "video/mp4; codecs=\"vp09.00.20.08,opus\"",
        ("vp9", "opus"),
    );
}

#[test]
fn avc_and_flac() {
    check(
        "flac",
        &["-c:v", "libx264", "-preset", "ultrafast"],
        &["-c:a", "flac"],
        44100,
        (VideoCodec::Avc, AudioCodec::FLAC),
        "video/mp4; codecs=\"avc1.42c00d,flac\"",
        ("h264", "flac"),
    );
}

/// FFmpeg 9 writes a second video stream as Enhanced RTMP v2 multitrack (OneTrack, id 1): the
/// remuxer plays the track it is told to.
#[test]
fn multitrack_selects_a_rendition() {
    use rtmpws_media::{RemuxConfig, Remuxer};
    let dir = TempDir::new("multitrack");
    let input = dir.path("in.flv");
    let mut cmd = Command::new(ffmpeg9());
    cmd.args(["-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25"])
        .args([
            "-t",
            "1",
            "-map",
            "0:v",
            "-map",
            "1:v",
            "-c:v",
            "libvpx-vp9",
        ])
        .args([
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-g",
            "25",
            "-f",
            "flv",
        ])
        .arg(&input);
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, tags) = read_flv(&input);
    let ids: std::collections::BTreeSet<u8> = tags
        .iter()
        .filter(|t| t.kind == TagKind::Video)
        .filter_map(|t| parse_video_tag(&t.data).ok())
        .filter(|i| !i.is_command())
        .map(|i| i.track_id)
        .collect();
    assert_eq!(ids.into_iter().collect::<Vec<_>>(), [0, 1]);
    for (track, size) in [(0u8, (320, 240)), (1, (160, 120))] {
        let mut r = Remuxer::new(RemuxConfig {
            video_track: track,
            ..RemuxConfig::default()
        });
        r.expect_tracks(false, true);
        let mut outputs = Vec::new();
        for t in tags.iter().filter(|t| t.kind == TagKind::Video) {
            r.push_video(t.timestamp, &t.data).unwrap();
        }
        r.flush(true);
        while let Some(o) = r.poll_output() {
            outputs.push(o);
        }
        let Some(RemuxOutput::Init { width, height, .. }) = outputs.first() else {
            panic!("no init for track {track}");
        };
        assert_eq!((*width, *height), size);
        let mp4 = dir.path(&format!("track{track}.mp4"));
        std::fs::write(&mp4, concat(&outputs)).unwrap();
        let decoded = decode(&mp4);
        assert_eq!(
            (decoded.video_codec.as_str(), decoded.video_frames),
            ("vp9", 25)
        );
    }
}
