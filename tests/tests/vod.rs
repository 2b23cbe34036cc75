//! Recorded streams through the real gateway: the Rust test client over WebSocket for every
//! sequence, and rtmpdump and ffmpeg over TCP for interop.

use std::process::Command;
use std::time::{Duration, Instant};

use rtmpws_media::flv::{write_file_header, write_tag, TagKind};
use rtmpws_protocol::amf::Value;
use rtmpws_protocol::client::ClientEvent;
use rtmpws_protocol::message::UserControl;
use rtmpws_protocol::MediaKind;
use rtmpws_protocol::StreamId;
use rtmpws_tests::{
    describe, ffmpeg_decoded_video_frames, summarize, test_flv, test_flv_sized, Gateway, TempDir,
    TestClient,
};

async fn player(gateway: &Gateway) -> (TestClient, StreamId) {
    let mut client = TestClient::connect(&gateway.ws_url("vod"), &[]).await;
    assert!(client.connect_answer().await.0);
    let stream = client.create_stream().await;
    (client, stream)
}

/// A client playing a `seconds`-long recorded "clip" from its start, past its first keyframe.
async fn playing_clip(gateway: &Gateway, seconds: u32) -> (TestClient, StreamId) {
    gateway.add_recorded(
        "vod",
        "clip.flv",
        &std::fs::read(test_flv(seconds)).unwrap(),
    );
    let (mut client, stream) = player(gateway).await;
    client.session().play(stream, "clip", 0.0, -1.0, true);
    client.flush().await;
    client.wait_for("a keyframe", is_video_keyframe).await;
    (client, stream)
}

fn is_video_keyframe(e: &ClientEvent) -> bool {
    matches!(e, ClientEvent::Media { kind: MediaKind::Video, payload, .. } if payload[0] >> 4 == 1 && payload[1] == 1)
}

/// Event lines from `from` on, media collapsed to their kind (sequence headers and keyframes
/// named), up to and including the first line that starts with `until`.
fn lines_until(events: &[ClientEvent], from: usize, until: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for event in &events[from..] {
        let line = describe(event)
            .split(" @")
            .next()
            .unwrap_or_default()
            .to_owned();
        let stop = line.starts_with(until);
        if !(line == "Audio" || line == "Video") || lines.last() != Some(&line) {
            lines.push(line);
        }
        if stop {
            break;
        }
    }
    lines
}

fn play_status(events: &[ClientEvent], code: &str) -> Option<Value> {
    events.iter().find_map(|e| match e {
        ClientEvent::PlayStatus { info, .. } if info.get_str("code") == Some(code) => {
            Some(info.clone())
        }
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_item_plays_paced_to_the_end_in_fms_order() {
    let gateway = Gateway::start("");
    gateway.add_recorded("vod", "clip.flv", &std::fs::read(test_flv(3)).unwrap());
    let (mut client, stream) = player(&gateway).await;
    let from = client.events.len();
    let started = Instant::now();
    client.session().play(stream, "clip", 0.0, -1.0, true);
    client.flush().await;
    client.wait_status("NetStream.Play.Stop").await;
    let elapsed = started.elapsed();
    client
        .wait_for("StreamEOF", |e| {
            *e == ClientEvent::UserControl(UserControl::StreamEof(stream))
        })
        .await;
    let lines = lines_until(&client.events, from, "StreamEof");
    let head: Vec<&str> = lines.iter().take(10).map(String::as_str).collect();
    let id = stream.0;
    assert_eq!(
        head,
        [
            format!("StreamIsRecorded(StreamId({id}))").as_str(),
            &format!("StreamBegin(StreamId({id}))"),
            "onStatus NetStream.Play.Reset",
            "onStatus NetStream.Play.Start",
            "data |RtmpSampleAccess",
            "data onStatus NetStream.Data.Start",
            "data onMetaData",
            "Audio AAC sequence header",
            "Video AVC sequence header",
            "Video keyframe",
        ],
        "{lines:#?}"
    );
    let tail: Vec<&str> = lines
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        [
            "onPlayStatus NetStream.Play.Complete",
            "onStatus NetStream.Play.Stop",
            &format!("StreamEof(StreamId({id}))")
        ]
    );
    let complete = play_status(&client.events, "NetStream.Play.Complete").unwrap();
    assert!(
        (complete.get_f64("duration").unwrap() - 3.0).abs() < 0.2,
        "{complete:?}"
    );
    assert!(complete.get_f64("bytes").unwrap() > 10_000.0);
    // Paced at real time with a one-second lead, not sent all at once.
    assert!(
        elapsed >= Duration::from_millis(1700),
        "a 3 s item took {elapsed:?}"
    );
    let frames = client.events.iter().filter(|e| matches!(e, ClientEvent::Media { kind: MediaKind::Video, payload, .. } if payload[1] == 1)).count();
    assert_eq!(frames, 90, "every frame of the item");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_escaping_names_are_not_found() {
    let gateway = Gateway::start("");
    let outside = TempDir::new("outside");
    std::fs::write(
        outside.path().join("secret.flv"),
        std::fs::read(test_flv(1)).unwrap(),
    )
    .unwrap();
    let link = gateway.dir.path().join("media/vod/link.flv");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.flv"), &link).unwrap();
    let (mut client, stream) = player(&gateway).await;
    for name in [
        "nothing",
        "../live/x",
        "/etc/passwd",
        "flv:../../secret",
        "link",
        "a\\..\\b",
    ] {
        client.session().play(stream, name, 0.0, -1.0, true);
        client.flush().await;
        let info = client.wait_status("NetStream.Play.StreamNotFound").await;
        assert_eq!(info.get_str("level"), Some("error"));
        assert_eq!(info.get_str("details"), Some(name));
    }
    assert!(
        !client
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::Media { .. })),
        "nothing from outside the folder"
    );
    // start -2 with neither a live nor a recorded stream: wait as live.
    client.session().play(stream, "later", -2.0, -1.0, true);
    client.flush().await;
    client.wait_status("NetStream.Play.Start").await;
}

/// getStreamLength, as JW Player and ffmpeg call it before playing: a recorded item's
/// duration; 0 for a missing item or one outside the folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_stream_length_answers_the_recorded_duration() {
    let gateway = Gateway::start("");
    gateway.add_recorded("vod", "clip.flv", &std::fs::read(test_flv(3)).unwrap());
    let (mut client, _) = player(&gateway).await;
    for (name, expected) in [
        ("clip", 3.0),
        ("flv:clip.flv", 3.0),
        ("nothing", 0.0),
        ("../x", 0.0),
    ] {
        let call = client.session().call("getStreamLength", vec![name.into()]);
        client.flush().await;
        let answer = client
            .wait_for("the getStreamLength answer", |e| {
                matches!(e, ClientEvent::CallResult { transaction_id, .. } if *transaction_id == call)
            })
            .await;
        let ClientEvent::CallResult { args, .. } = answer else {
            unreachable!()
        };
        let seconds = args.first().and_then(Value::as_f64).unwrap();
        assert!((seconds - expected).abs() < 0.1, "{name}: {seconds}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_restarts_from_the_keyframe_before_the_target() {
    let gateway = Gateway::start("");
    gateway.add_recorded("vod", "long.flv", &std::fs::read(test_flv(6)).unwrap());
    let (mut client, stream) = player(&gateway).await;
    client.session().play(stream, "long", -2.0, -1.0, true);
    client.flush().await;
    client.wait_for("a keyframe", is_video_keyframe).await;
    let from = client.events.len();
    client
        .session()
        .stream_command(stream, "seek", vec![4500.0.into()]);
    client.flush().await;
    let notify = client.wait_status("NetStream.Seek.Notify").await;
    assert_eq!(
        notify.get_str("description"),
        Some(format!("Seeking 4500 (stream ID: {}).", stream.0).as_str())
    );
    let keyframe = client
        .wait_for("a keyframe after the seek", is_video_keyframe)
        .await;
    let ClientEvent::Media { timestamp, .. } = keyframe else {
        unreachable!()
    };
    assert_eq!(timestamp.0, 4000, "the keyframe at or before 4.5 s");
    // Media sent ahead before the seek may precede its answer; the answer starts at StreamEOF.
    let notify_at = client
        .events
        .iter()
        .rposition(|e| describe(e) == "onStatus NetStream.Seek.Notify")
        .unwrap();
    let eof_at = client.events[from..notify_at]
        .iter()
        .rposition(|e| matches!(e, ClientEvent::UserControl(UserControl::StreamEof(_))))
        .unwrap();
    let lines = lines_until(&client.events, from + eof_at, "Video keyframe");
    let id = stream.0;
    assert_eq!(
        lines,
        [
            format!("StreamEof(StreamId({id}))"),
            format!("StreamIsRecorded(StreamId({id}))"),
            format!("StreamBegin(StreamId({id}))"),
            "onStatus NetStream.Seek.Notify".into(),
            "onStatus NetStream.Play.Start".into(),
            "data |RtmpSampleAccess".into(),
            "data onStatus NetStream.Data.Start".into(),
            "data onMetaData".into(),
            "Audio AAC sequence header".into(),
            "Video AVC sequence header".into(),
            "Video keyframe".into(),
        ]
    );
    // Backwards works too, and past the end fails.
    client
        .session()
        .stream_command(stream, "seek", vec![1000.0.into()]);
    client.flush().await;
    client.wait_status("NetStream.Seek.Notify").await;
    let ClientEvent::Media { timestamp, .. } = client.wait_for("keyframe", is_video_keyframe).await
    else {
        unreachable!()
    };
    assert_eq!(timestamp.0, 1000);
    client
        .session()
        .stream_command(stream, "seek", vec![60_000.0.into()]);
    client.flush().await;
    assert_eq!(
        client
            .wait_status("NetStream.Seek.Failed")
            .await
            .get_str("level"),
        Some("error")
    );
    client
        .session()
        .stream_command(stream, "seek", vec!["asdasdas".into()]);
    client.flush().await;
    client.wait_status("NetStream.InvalidArg").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_media_and_unpause_resumes_from_the_given_time() {
    let gateway = Gateway::start("");
    let (mut client, stream) = playing_clip(&gateway, 6).await;
    client
        .session()
        .stream_command(stream, "pause", vec![true.into(), 1200.0.into()]);
    client.flush().await;
    let from = client.events.len();
    client.wait_status("NetStream.Pause.Notify").await;
    let before: Vec<String> = lines_until(&client.events, from, "onStatus NetStream.Pause.Notify")
        .into_iter()
        .filter(|l| !l.starts_with("Audio") && !l.starts_with("Video"))
        .collect();
    assert_eq!(
        before,
        [
            format!("StreamEof(StreamId({}))", stream.0),
            "onStatus NetStream.Pause.Notify".into()
        ]
    );
    // Nothing flows while paused.
    let paused_at = client.events.len();
    let _ = client.next_event(Duration::from_millis(1500)).await;
    assert!(
        !client.events[paused_at..]
            .iter()
            .any(|e| matches!(e, ClientEvent::Media { .. })),
        "media while paused"
    );
    client
        .session()
        .stream_command(stream, "pause", vec![false.into(), 2500.0.into()]);
    client.flush().await;
    let from = client.events.len();
    client.wait_status("NetStream.Play.Start").await;
    let lines = lines_until(&client.events, from, "onStatus NetStream.Play.Start");
    assert_eq!(
        lines,
        [
            format!("StreamBegin(StreamId({}))", stream.0),
            "onStatus NetStream.Unpause.Notify".into(),
            "onStatus NetStream.Play.Start".into()
        ]
    );
    let ClientEvent::Media { timestamp, .. } = client.wait_for("keyframe", is_video_keyframe).await
    else {
        unreachable!()
    };
    assert_eq!(timestamp.0, 2000, "resumes at the keyframe before 2.5 s");

    // A seek while paused shows the picture at the new position (one keyframe), no more.
    client
        .session()
        .stream_command(stream, "pause", vec![true.into(), 2600.0.into()]);
    client.flush().await;
    client.wait_status("NetStream.Pause.Notify").await;
    client
        .session()
        .stream_command(stream, "seek", vec![4200.0.into()]);
    client.flush().await;
    client.wait_status("NetStream.Seek.Notify").await;
    let after_seek = client.collect_for(Duration::from_millis(1500)).await;
    let frames: Vec<u32> = after_seek
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Media {
                kind: MediaKind::Video,
                timestamp,
                payload,
                ..
            } if payload[1] == 1 => Some(timestamp.0),
            _ => None,
        })
        .collect();
    assert_eq!(
        frames,
        [4000],
        "one frame, the keyframe at or before 4.2 s: {:?}",
        summarize(&after_seek)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playlist_switches_items_and_skips_missing_ones() {
    let gateway = Gateway::start("");
    gateway.add_recorded("vod", "a.flv", &std::fs::read(test_flv(2)).unwrap());
    gateway.add_recorded(
        "vod",
        "b.flv",
        &std::fs::read(test_flv_sized(2, "160x120")).unwrap(),
    );
    let (mut client, stream) = player(&gateway).await;
    let from = client.events.len();
    client.session().play(stream, "a", 0.0, -1.0, true);
    client.session().play(stream, "missing", 0.0, -1.0, false);
    client.session().play(stream, "b", 0.0, -1.0, false);
    client.flush().await;
    client.wait_status("NetStream.Play.Stop").await;
    let lines: Vec<String> = lines_until(&client.events, from, "onStatus NetStream.Play.Stop")
        .into_iter()
        .filter(|l| l.starts_with("on") || l.starts_with("Stream"))
        .collect();
    let id = stream.0;
    assert_eq!(
        lines,
        [
            format!("StreamIsRecorded(StreamId({id}))"),
            format!("StreamBegin(StreamId({id}))"),
            "onStatus NetStream.Play.Reset".into(),
            "onStatus NetStream.Play.Start".into(),
            "onStatus NetStream.Play.StreamNotFound".into(),
            format!("StreamEof(StreamId({id}))"),
            "onPlayStatus NetStream.Play.Switch".into(),
            format!("StreamIsRecorded(StreamId({id}))"),
            format!("StreamBegin(StreamId({id}))"),
            "onStatus NetStream.Play.Start".into(),
            "onPlayStatus NetStream.Play.Complete".into(),
            "onStatus NetStream.Play.Stop".into(),
        ]
    );
    let starts: Vec<String> = client
        .events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Status { info, .. }
                if info.get_str("code") == Some("NetStream.Play.Start") =>
            {
                info.get_str("details").map(str::to_owned)
            }
            _ => None,
        })
        .collect();
    assert_eq!(starts, ["a", "b"]);
    let switch = play_status(&client.events, "NetStream.Play.Switch").unwrap();
    assert!(switch.get_f64("duration").is_some() && switch.get_f64("bytes").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play2_switch_takes_over_at_a_keyframe_and_impossible_transitions_fail() {
    let gateway = Gateway::start("");
    gateway.add_recorded("vod", "high.flv", &std::fs::read(test_flv(6)).unwrap());
    gateway.add_recorded(
        "vod",
        "low.flv",
        &std::fs::read(test_flv_sized(6, "160x120")).unwrap(),
    );
    let (mut client, stream) = player(&gateway).await;
    client.session().play(stream, "high", 0.0, -1.0, true);
    client.flush().await;
    client.wait_for("a keyframe", is_video_keyframe).await;
    let switch = Value::object([
        ("streamName", "low".into()),
        ("oldStreamName", "high".into()),
        ("transition", "switch".into()),
    ]);
    client
        .session()
        .stream_command(stream, "play2", vec![switch]);
    client.flush().await;
    let transition = client.wait_status("NetStream.Play.Transition").await;
    assert_eq!(transition.get_str("details"), Some("low"));
    assert_eq!(
        transition.get_str("reason"),
        Some("NetStream.Transition.Success")
    );
    client.wait_for("TransitionComplete", |e| matches!(e, ClientEvent::PlayStatus { info, .. } if info.get_str("code") == Some("NetStream.Play.TransitionComplete"))).await;
    // Then the new stream's own decoder configuration and a keyframe of the new stream.
    let header = client.wait_for("AVC sequence header", |e| matches!(e, ClientEvent::Media { kind: MediaKind::Video, payload, .. } if payload[1] == 0)).await;
    let ClientEvent::Media {
        payload: new_header,
        ..
    } = header
    else {
        unreachable!()
    };
    let first_header = client
        .events
        .iter()
        .find_map(|e| match e {
            ClientEvent::Media {
                kind: MediaKind::Video,
                payload,
                ..
            } if payload[1] == 0 => Some(payload.clone()),
            _ => None,
        })
        .unwrap();
    assert_ne!(new_header, first_header, "the 160x120 stream's SPS");
    let frame = client.wait_for("a frame of the new stream", |e| matches!(e, ClientEvent::Media { kind: MediaKind::Video, payload, .. } if payload[1] == 1)).await;
    assert!(
        is_video_keyframe(&frame),
        "the switch happens at a keyframe"
    );
    // Impossible: a missing item, and swapping out an item that is not there.
    for options in [
        Value::object([
            ("streamName", "nothing".into()),
            ("transition", "switch".into()),
        ]),
        Value::object([
            ("streamName", "high".into()),
            ("oldStreamName", "ghost".into()),
            ("transition", "swap".into()),
        ]),
    ] {
        client
            .session()
            .stream_command(stream, "play2", vec![options]);
        client.flush().await;
        assert_eq!(
            client
                .wait_status("NetStream.Play.Failed")
                .await
                .get_str("level"),
            Some("error")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_video_false_sends_audio_only_and_true_resumes_at_a_keyframe() {
    let gateway = Gateway::start("");
    let (mut client, stream) = playing_clip(&gateway, 6).await;
    client
        .session()
        .stream_command(stream, "receiveVideo", vec![false.into()]);
    client.flush().await;
    // What was sent ahead (the one-second lead) drains first; then only audio flows.
    client.collect_for(Duration::from_millis(1500)).await;
    let window = &client.collect_for(Duration::from_millis(1000)).await;
    assert!(
        window.iter().any(|e| matches!(
            e,
            ClientEvent::Media {
                kind: MediaKind::Audio,
                ..
            }
        )),
        "audio goes on"
    );
    assert!(
        !window.iter().any(|e| matches!(
            e,
            ClientEvent::Media {
                kind: MediaKind::Video,
                ..
            }
        )),
        "no video: {:?}",
        summarize(window)
    );
    client
        .session()
        .stream_command(stream, "receiveVideo", vec![true.into()]);
    client.flush().await;
    let first_video = client
        .wait_for("video again", |e| {
            matches!(
                e,
                ClientEvent::Media {
                    kind: MediaKind::Video,
                    ..
                }
            )
        })
        .await;
    assert!(
        is_video_keyframe(&first_video),
        "video resumes at a keyframe"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_foreign_and_unplayable_files() {
    let gateway = Gateway::start("");
    let good = std::fs::read(test_flv(3)).unwrap();
    gateway.add_recorded("vod", "html.flv", b"<html>not a video</html>");
    gateway.add_recorded("vod", "cut.flv", &good[..good.len() / 2]);
    let mut mp3 = Vec::new();
    write_file_header(true, false, &mut mp3);
    for i in 0..20 {
        write_tag(
            TagKind::Audio,
            i * 26,
            &[0x2F, 0xFF, 0xFB, 0x90, 0x64],
            &mut mp3,
        )
        .unwrap();
    }
    gateway.add_recorded("vod", "mp3.flv", &mp3);
    let (mut client, stream) = player(&gateway).await;
    client.session().play(stream, "html", 0.0, -1.0, true);
    client.flush().await;
    client
        .wait_status("NetStream.Play.FileStructureInvalid")
        .await;
    client.session().play(stream, "mp3", 0.0, -1.0, true);
    client.flush().await;
    client
        .wait_status("NetStream.Play.NoSupportedTrackFound")
        .await;
    // A truncated file plays up to the damage and ends cleanly.
    client.session().play(stream, "cut", 0.0, -1.0, true);
    client.flush().await;
    client.wait_status("NetStream.Play.Stop").await;
    let complete = play_status(&client.events, "NetStream.Play.Complete").unwrap();
    assert!(complete.get_f64("bytes").unwrap() > 1000.0);
    assert!(client.is_open_after(Duration::from_millis(200)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn len_limits_playback_and_zero_sends_one_frame() {
    let gateway = Gateway::start("");
    gateway.add_recorded("vod", "clip.flv", &std::fs::read(test_flv(6)).unwrap());
    let (mut client, stream) = player(&gateway).await;
    client.session().play(stream, "clip", 2.0, 1.0, true);
    client.flush().await;
    client.wait_status("NetStream.Play.Stop").await;
    let times: Vec<u32> = client
        .events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Media {
                timestamp, payload, ..
            } if payload[1] == 1 => Some(timestamp.0),
            _ => None,
        })
        .collect();
    assert!(times.iter().all(|t| (2000..3000).contains(t)), "{times:?}");
    let from = client.events.len();
    client.session().play(stream, "clip", 1.0, 0.0, true);
    client.flush().await;
    client.wait_status("NetStream.Play.Stop").await;
    let frames = client.events[from..].iter().filter(|e| matches!(e, ClientEvent::Media { kind: MediaKind::Video, payload, .. } if payload[1] == 1)).count();
    assert_eq!(frames, 1, "len 0 plays a single frame");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmpdump_and_ffmpeg_play_recorded_items_over_tcp() {
    let gateway = Gateway::start("");
    gateway.add_recorded("vod", "clip.flv", &std::fs::read(test_flv(3)).unwrap());
    let out = gateway.dir.path().join("dump.flv");
    let dump = Command::new("rtmpdump")
        .args(["-q", "-r", &gateway.rtmp_url("vod/clip"), "-o"])
        .arg(&out)
        .output()
        .expect("rtmpdump is not installed");
    // rtmpdump exits 2 ("may be incomplete") when the last timestamp is under 99.9% of the
    // metadata duration, which counts the last frame's length too: ffmpeg's files always read
    // ~99.8%. Every frame must be there either way.
    assert!(
        matches!(dump.status.code(), Some(0 | 2)),
        "rtmpdump: {:?} {}",
        dump.status,
        String::from_utf8_lossy(&dump.stderr)
    );
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v",
            "-show_entries",
            "stream=nb_read_frames,width",
            "-of",
            "csv=p=0",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&probe.stdout).trim(),
        "320,90",
        "every frame of the item, downloaded by rtmpdump"
    );

    let missing = Command::new("rtmpdump")
        .args([
            "-q",
            "-r",
            &gateway.rtmp_url("vod/nothing"),
            "-o",
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert!(
        !missing.status.success(),
        "rtmpdump must fail on StreamNotFound"
    );

    let frames = ffmpeg_decoded_video_frames(&gateway.rtmp_url("vod/clip"), None);
    assert_eq!(frames, 90);
}
