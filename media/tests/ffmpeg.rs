//! End-to-end checks against the real ffmpeg: FLVs made by ffmpeg are remuxed and the fMP4 is
//! probed and decoded by ffmpeg. Skipped (with a note) when ffmpeg is not installed.

mod common;

use common::*;
use rtmpws_media::flv::FlvTag;
use rtmpws_media::RemuxOutput;

struct Probe {
    streams: Vec<Json>,
    duration: f64,
}

fn probe(file: &std::path::Path) -> Probe {
    let json = ffprobe_json(&["-show_streams", "-show_format", "-count_frames"], file);
    Probe {
        streams: json.get("streams").expect("streams").array().to_vec(),
        duration: json.get("format").expect("format").field_num("duration"),
    }
}

fn stream<'a>(probe: &'a Probe, kind: &str) -> &'a Json {
    probe
        .streams
        .iter()
        .find(|s| s.field_str("codec_type") == kind)
        .unwrap_or_else(|| panic!("no {kind} stream in {:?}", probe.streams))
}

fn inits(outputs: &[RemuxOutput]) -> Vec<&RemuxOutput> {
    outputs
        .iter()
        .filter(|o| matches!(o, RemuxOutput::Init { .. }))
        .collect()
}

fn check_video_stream(probe: &Probe, width: f64, height: f64, frames: usize) {
    let v = stream(probe, "video");
    assert_eq!(v.field_str("codec_name"), "h264");
    assert_eq!(v.field_num("width"), width);
    assert_eq!(v.field_num("height"), height);
    assert_eq!(
        v.field_num("nb_read_frames") as usize,
        frames,
        "video frames"
    );
}

fn check_audio_stream(probe: &Probe, frames: usize) {
    let a = stream(probe, "audio");
    assert_eq!(a.field_str("codec_name"), "aac");
    assert_eq!(a.field_num("sample_rate"), 44100.0);
    assert_eq!(a.field_num("channels"), 1.0);
    assert_eq!(
        a.field_num("nb_read_frames") as usize,
        frames,
        "audio frames"
    );
}

#[test]
fn audio_and_video() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("av");
    let input = dir.path("in.flv");
    generate_flv(&input, "640x360", 4, true, true);
    let (header, tags) = read_flv(&input);
    assert!(header.has_audio && header.has_video);
    let video = video_frames(&tags);
    let audio = audio_frames(&tags);
    assert!(
        video.len() >= 115 && audio.len() >= 150,
        "{} {}",
        video.len(),
        audio.len()
    );

    let (remuxer, outputs) = remux(&tags, None, 5);
    let init = inits(&outputs);
    assert_eq!(init.len(), 1);
    let RemuxOutput::Init {
        mime,
        has_audio,
        has_video,
        width,
        height,
        ..
    } = init[0]
    else {
        unreachable!()
    };
    assert_eq!(mime, "video/mp4; codecs=\"avc1.64001e,mp4a.40.2\"");
    assert!(*has_audio && *has_video);
    assert_eq!((*width, *height), (640, 360));
    let media = outputs.len() - 1;
    assert!(media >= video.len() / 5 - 1, "only {media} media segments");

    let out = dir.path("out.mp4");
    std::fs::write(&out, concat(&outputs)).unwrap();
    let p = probe(&out);
    assert_eq!(p.streams.len(), 2);
    check_video_stream(&p, 640.0, 360.0, video.len());
    check_audio_stream(&p, audio.len());
    assert!((p.duration - 4.0).abs() <= 0.1, "duration {}", p.duration);
    assert_eq!(decode_errors(&out), "");

    check_video_timing(&out, &video, remuxer.timeline_base_ms().expect("base"));
}

/// Packet dts/pts (decode order) and frame timestamps (presentation order) must be the FLV
/// timestamp (+ composition time) on the remuxer's timeline, to the millisecond.
fn check_video_timing(file: &std::path::Path, flv: &[(u32, i32)], base: u32) {
    let expected: Vec<(f64, f64)> = flv
        .iter()
        .map(|&(ts, cts)| {
            let dts = f64::from(ts - base);
            (dts, dts + f64::from(cts))
        })
        .collect();

    let packets = ffprobe_json(
        &[
            "-select_streams",
            "v",
            "-show_entries",
            "packet=pts_time,dts_time",
            "-show_packets",
        ],
        file,
    );
    let packets = packets.get("packets").expect("packets").array();
    assert_eq!(packets.len(), expected.len());
    for (i, (packet, &(dts, pts))) in packets.iter().zip(&expected).enumerate().take(60) {
        let got_dts = packet.field_num("dts_time") * 1000.0;
        let got_pts = packet.field_num("pts_time") * 1000.0;
        assert!(
            (got_dts - dts).abs() <= 1.0,
            "packet {i}: dts {got_dts} != {dts}"
        );
        assert!(
            (got_pts - pts).abs() <= 1.0,
            "packet {i}: pts {got_pts} != {pts}"
        );
    }

    let frames = ffprobe_json(
        &[
            "-select_streams",
            "v",
            "-show_entries",
            "frame=best_effort_timestamp_time",
            "-show_frames",
        ],
        file,
    );
    let frames = frames.get("frames").expect("frames").array();
    let mut presentation: Vec<f64> = expected.iter().map(|&(_, pts)| pts).collect();
    presentation.sort_by(f64::total_cmp);
    for (n, (frame, want)) in frames.iter().zip(&presentation).enumerate().take(30) {
        let got = frame.field_num("best_effort_timestamp_time") * 1000.0;
        assert!((got - want).abs() <= 1.0, "frame {n}: pts {got} != {want}");
    }
}

#[test]
fn video_only() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("video");
    let input = dir.path("in.flv");
    generate_flv(&input, "640x360", 3, true, false);
    let (header, tags) = read_flv(&input);
    assert!(header.has_video && !header.has_audio);
    let video = video_frames(&tags);

    // Announced by metadata, and discovered by waiting for the other track.
    for expect in [Some((header.has_audio, header.has_video)), None] {
        let (remuxer, outputs) = remux(&tags, expect, 5);
        let init = inits(&outputs);
        assert_eq!(init.len(), 1);
        let RemuxOutput::Init {
            mime, has_audio, ..
        } = init[0]
        else {
            unreachable!()
        };
        assert_eq!(mime, "video/mp4; codecs=\"avc1.64001e\"");
        assert!(!has_audio);
        if expect.is_some() {
            // Knowing the tracks, the init is written with the sequence header: first output.
            assert!(matches!(outputs[0], RemuxOutput::Init { .. }));
        }
        let out = dir.path("out.mp4");
        std::fs::write(&out, concat(&outputs)).unwrap();
        let p = probe(&out);
        assert_eq!(p.streams.len(), 1);
        check_video_stream(&p, 640.0, 360.0, video.len());
        assert!((p.duration - 3.0).abs() <= 0.1, "duration {}", p.duration);
        assert_eq!(decode_errors(&out), "");
        check_video_timing(&out, &video, remuxer.timeline_base_ms().unwrap());
    }
}

#[test]
fn audio_only() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("audio");
    let input = dir.path("in.flv");
    generate_flv(&input, "", 3, false, true);
    let (header, tags) = read_flv(&input);
    assert!(header.has_audio && !header.has_video);
    let audio = audio_frames(&tags);

    for expect in [Some((true, false)), None] {
        let (_, outputs) = remux(&tags, expect, 10);
        let init = inits(&outputs);
        assert_eq!(init.len(), 1);
        let RemuxOutput::Init {
            mime,
            has_video,
            width,
            ..
        } = init[0]
        else {
            unreachable!()
        };
        assert_eq!(mime, "audio/mp4; codecs=\"mp4a.40.2\"");
        assert!(!has_video);
        assert_eq!(*width, 0);
        assert!(outputs.iter().all(|o| match o {
            RemuxOutput::Media { has_keyframe, .. } => *has_keyframe,
            _ => true,
        }));
        let out = dir.path("out.mp4");
        std::fs::write(&out, concat(&outputs)).unwrap();
        let p = probe(&out);
        assert_eq!(p.streams.len(), 1);
        check_audio_stream(&p, audio.len());
        assert!((p.duration - 3.0).abs() <= 0.1, "duration {}", p.duration);
        assert_eq!(decode_errors(&out), "");
    }
}

#[test]
fn resolution_change_mid_stream() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("switch");
    let first = dir.path("a.flv");
    let second = dir.path("b.flv");
    generate_flv(&first, "640x360", 2, true, true);
    generate_flv(&second, "320x240", 2, true, true);
    let (_, mut tags) = read_flv(&first);
    let (_, tail) = read_flv(&second);
    let offset = tags.iter().map(|t| t.timestamp).max().unwrap() + 33;
    tags.extend(
        tail.into_iter()
            .filter(|t| t.kind != rtmpws_media::flv::TagKind::Script)
            .map(|t| FlvTag {
                timestamp: t.timestamp + offset,
                ..t
            }),
    );
    let video = video_frames(&tags);

    let (_, outputs) = remux(&tags, Some((true, true)), 5);
    let init_positions: Vec<usize> = outputs
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(o, RemuxOutput::Init { .. }))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(init_positions.len(), 2, "two init segments");
    let sizes: Vec<(u32, u32)> = init_positions
        .iter()
        .map(|&i| match &outputs[i] {
            RemuxOutput::Init { width, height, .. } => (*width, *height),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(sizes, [(640, 360), (320, 240)]);

    // Each half is a valid file on its own, and together they hold every frame.
    let (a, b) = outputs.split_at(init_positions[1]);
    let mut total = 0;
    for (part, (w, h)) in [(a, (640.0, 360.0)), (b, (320.0, 240.0))] {
        let out = dir.path("part.mp4");
        std::fs::write(&out, concat(part)).unwrap();
        let p = probe(&out);
        let v = stream(&p, "video");
        assert_eq!((v.field_num("width"), v.field_num("height")), (w, h));
        total += v.field_num("nb_read_frames") as usize;
        assert_eq!(decode_errors(&out), "");
    }
    assert_eq!(total, video.len());
}
