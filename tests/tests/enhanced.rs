//! Enhanced RTMP end to end: FFmpeg 9 publishes HEVC, AV1 and VP9 with Opus (and H.264 + AAC
//! as the control) over TCP; FFmpeg 9 plays each live stream and its recording back through
//! the gateway and decodes every frame; the Rust test client seeks in the recordings; legacy
//! players (the test client without an announcement, Debian's FFmpeg 5.1) get
//! NetStream.Play.NoSupportedTrackFound instead of bytes they cannot parse; SIGTERM with
//! `drain_secs` sends NetConnection.Connect.ReconnectRequest with a tcUrl.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rtmpws_media::tag::parse_video_tag;
use rtmpws_protocol::amf::Value;
use rtmpws_protocol::client::ClientEvent;
use rtmpws_protocol::MediaKind;
use rtmpws_tests::{ffmpeg9, Gateway, TestClient};

/// FFmpeg's `-rtmp_conn` puts this object among connect's arguments: the announcement FFmpeg
/// itself does not make when it plays.
const ANNOUNCE: &str = "O:1 NN:capsEx:7 O:0";

struct Case {
    name: &'static str,
    video: &'static [&'static str],
    audio: &'static [&'static str],
    /// Codec names in FFmpeg's stream lines.
    codecs: (&'static str, &'static str),
}

const CASES: [Case; 4] = [
    Case {
        name: "hevc",
        video: &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error",
        ],
        audio: &["-c:a", "libopus"],
        codecs: ("hevc", "opus"),
    },
    Case {
        name: "av1",
        video: &[
            "-c:v",
            "libsvtav1",
            "-preset",
            "12",
            "-svtav1-params",
            "lp=1",
        ],
        audio: &["-c:a", "libopus"],
        codecs: ("av1", "opus"),
    },
    Case {
        name: "vp9",
        video: &[
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
        ],
        audio: &["-c:a", "libopus"],
        codecs: ("vp9", "opus"),
    },
    Case {
        name: "h264",
        video: &["-c:v", "libx264", "-preset", "ultrafast"],
        audio: &["-c:a", "aac"],
        codecs: ("h264", "aac"),
    },
];

/// FFmpeg 9 encoding a 2 s 320x240 clip (25 fps, a keyframe a second) in real time to `url`.
fn publish(case: &Case, url: &str, with_audio: bool) -> Child {
    let mut cmd = Command::new(ffmpeg9());
    cmd.args([
        "-v",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
    ]);
    if with_audio {
        cmd.args([
            "-re",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
        ]);
    }
    cmd.args(["-t", "2", "-g", "25"])
        .args(case.video)
        .args(if with_audio { case.audio } else { &["-an"][..] })
        .args(["-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("FFmpeg 9 runs")
}

/// FFmpeg 9 playing `url` (announcing Enhanced RTMP) and writing one framecrc line per decoded
/// frame: the process ends at UnpublishNotify or the end of a recording.
fn play(url: &str) -> Child {
    Command::new(ffmpeg9())
        .args([
            "-hide_banner",
            "-rtmp_conn",
            ANNOUNCE,
            "-i",
            url,
            "-f",
            "framecrc",
            "-",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("FFmpeg 9 runs")
}

/// (video codec, audio codec, video frames, audio frames) of a finished [`play`].
fn decoded(child: Child, what: &str) -> (String, String, usize, usize) {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what}: {stderr}");
    let codec = |kind: &str| {
        stderr
            .lines()
            .take_while(|l| !l.starts_with("Stream mapping"))
            .find_map(|l| l.split_once(&format!(": {kind}: ")))
            .map(|(_, rest)| rest.split([' ', ',']).next().unwrap_or("").to_owned())
            .unwrap_or_default()
    };
    // Output streams: video 0, audio 1 (the input's data stream is not mapped).
    let stdout = String::from_utf8_lossy(&out.stdout);
    let count = |index: &str| {
        stdout
            .lines()
            .filter(|l| l.split(',').next() == Some(index))
            .count()
    };
    (codec("Video"), codec("Audio"), count("0"), count("1"))
}

fn wait_ok(mut child: Child, what: &str) {
    let status = child.wait().unwrap();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "{what}: {err}");
}

/// A test client that announces Enhanced RTMP (or not) and has a stream.
async fn client(
    gateway: &Gateway,
    app: &str,
    enhanced: bool,
) -> (TestClient, Value, rtmpws_protocol::StreamId) {
    let list = Value::StrictArray(vec![
        "hvc1".into(),
        "av01".into(),
        "vp09".into(),
        "Opus".into(),
    ]);
    let extra: Vec<(&str, Value)> = if enhanced {
        vec![("fourCcList", list), ("capsEx", Value::Number(1.0))]
    } else {
        vec![]
    };
    let mut c = TestClient::connect(&gateway.rtmp_url(app), &extra).await;
    let properties = match c
        .wait_for("connect _result", |e| {
            matches!(e, ClientEvent::Connected { .. })
        })
        .await
    {
        ClientEvent::Connected { properties, .. } => properties,
        _ => unreachable!(),
    };
    let stream = c.create_stream().await;
    (c, properties, stream)
}

fn is_keyframe(e: &ClientEvent) -> Option<u32> {
    match e {
        ClientEvent::Media {
            kind: MediaKind::Video,
            payload,
            timestamp,
            ..
        } => parse_video_tag(payload)
            .ok()
            .filter(|i| i.is_keyframe())
            .map(|_| timestamp.0),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enhanced_streams_relay_record_and_play_back() {
    let gateway = Gateway::start("record_all = [\"live\"]");
    // Players first, so they see every frame from the first keyframe on.
    let players: Vec<Child> = CASES
        .iter()
        .map(|c| play(&gateway.rtmp_url(&format!("live/{}", c.name))))
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let publishers: Vec<Child> = CASES
        .iter()
        .map(|c| publish(c, &gateway.rtmp_url(&format!("live/{}", c.name)), true))
        .collect();
    for (child, case) in publishers.into_iter().zip(&CASES) {
        wait_ok(child, &format!("publish {}", case.name));
    }
    for (child, case) in players.into_iter().zip(&CASES) {
        let (video, audio, frames, audio_frames) = decoded(child, &format!("live {}", case.name));
        assert_eq!(
            (video.as_str(), audio.as_str()),
            case.codecs,
            "live {}",
            case.name
        );
        assert_eq!(frames, 50, "live {}: every picture decodes", case.name);
        assert!(
            audio_frames >= 80,
            "live {}: {audio_frames} audio frames",
            case.name
        );
    }

    // The recordings (record_all), once final, play back through the gateway.
    let recorded = |name: &str| {
        gateway
            .dir
            .path()
            .join("media/live")
            .join(format!("{name}.flv"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while CASES
        .iter()
        .any(|c| !recorded(c.name).exists() || !has_keyframe_table(&recorded(c.name)))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "recordings not finalized:\n{}",
            gateway.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let players: Vec<Child> = CASES
        .iter()
        .map(|c| play(&gateway.rtmp_url(&format!("live/{}", c.name))))
        .collect();
    for (child, case) in players.into_iter().zip(&CASES) {
        let (video, audio, frames, _) = decoded(child, &format!("recorded {}", case.name));
        assert_eq!(
            (video.as_str(), audio.as_str()),
            case.codecs,
            "recorded {}",
            case.name
        );
        assert_eq!(frames, 50, "recorded {}: every picture decodes", case.name);
    }

    // Seeking in a recording starts at the keyframe before the target, for every codec.
    for case in &CASES {
        let (mut c, properties, stream) = client(&gateway, "live", true).await;
        assert_eq!(properties.get_f64("capsEx"), Some(7.0), "{properties:?}");
        c.session().play(stream, case.name, 0.0, -1.0, true);
        c.flush().await;
        let first = c.wait_for("a keyframe", |e| is_keyframe(e).is_some()).await;
        // The encoders' first picture is at 0 to 7 ms.
        assert!(
            is_keyframe(&first).is_some_and(|t| t < 100),
            "{}",
            case.name
        );
        let from = c.events.len();
        c.session()
            .stream_command(stream, "seek", vec![1500.0.into()]);
        c.flush().await;
        c.wait_status("NetStream.Seek.Notify").await;
        let key = c
            .wait_for("a keyframe after the seek", |e| is_keyframe(e).is_some())
            .await;
        let at = is_keyframe(&key).unwrap();
        assert!(
            (960..=1100).contains(&at),
            "{}: keyframe at {at} ms after seek; events from {from}",
            case.name
        );
    }
}

/// Whether finalize has written its keyframe table (the recording is complete).
fn has_keyframe_table(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.windows(14).any(|w| w == b"filepositions\x0a"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_players_get_no_supported_track_found() {
    let gateway = Gateway::start("");
    let url = gateway.rtmp_url("live/hevconly");
    // An enhanced and a legacy test client wait for the stream.
    let (mut enhanced, enhanced_props, enhanced_stream) = client(&gateway, "live", true).await;
    let (mut legacy, legacy_props, legacy_stream) = client(&gateway, "live", false).await;
    assert!(enhanced_props.get("fourCcList").is_some());
    assert!(legacy_props.get("fourCcList").is_none() && legacy_props.get("capsEx").is_none());
    enhanced
        .session()
        .play(enhanced_stream, "hevconly", -2.0, -1.0, true);
    enhanced.flush().await;
    legacy
        .session()
        .play(legacy_stream, "hevconly", -2.0, -1.0, true);
    legacy.flush().await;
    legacy.wait_status("NetStream.Play.Start").await;
    let publisher = publish(&CASES[0], &url, false);
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Debian's FFmpeg 5.1 (no Enhanced RTMP) fails cleanly instead of decoding garbage.
    let old = Command::new("ffmpeg")
        .args(["-v", "error", "-i", &url, "-f", "framecrc", "-"])
        .output()
        .expect("ffmpeg is installed");
    let old_err = String::from_utf8_lossy(&old.stderr);
    assert!(!old.status.success(), "ffmpeg 5.1 should fail: {old_err}");
    assert!(old_err.contains("No supported track"), "{old_err}");
    assert!(!String::from_utf8_lossy(&old.stdout)
        .lines()
        .any(|l| l.starts_with("0,")));

    let info = legacy
        .wait_status("NetStream.Play.NoSupportedTrackFound")
        .await;
    assert_eq!(info.get_str("level"), Some("error"));
    enhanced
        .wait_for("an HEVC keyframe", |e| is_keyframe(e).is_some())
        .await;
    wait_ok(publisher, "publish hevc");
    legacy.collect_for(Duration::from_millis(200)).await;
    let enhanced_bytes = legacy.events.iter().any(|e| {
        matches!(e, ClientEvent::Media { kind: MediaKind::Video, payload, .. } if payload.first().is_some_and(|b| b & 0x80 != 0))
    });
    assert!(!enhanced_bytes, "a legacy client got enhanced video");
    let told = legacy.events.iter().filter(|e| matches!(e, ClientEvent::Status { info, .. } if info.get_str("code") == Some("NetStream.Play.NoSupportedTrackFound"))).count();
    assert_eq!(told, 1, "told once per publication");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_player_of_an_enhanced_only_recording_gets_no_supported_track_found() {
    let gateway = Gateway::start("record_all = [\"live\"]");
    let publisher = publish(&CASES[0], &gateway.rtmp_url("live/rec"), false);
    wait_ok(publisher, "publish hevc");
    // The recording is made final a moment after the publisher leaves.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (mut legacy, _, stream) = client(&gateway, "live", false).await;
    legacy.session().play(stream, "rec", 0.0, -1.0, true);
    legacy.flush().await;
    let info = legacy
        .wait_status("NetStream.Play.NoSupportedTrackFound")
        .await;
    assert_eq!(info.get_str("details"), Some("rec"));
    legacy.collect_for(Duration::from_millis(500)).await;
    let enhanced_bytes = legacy.events.iter().any(|e| {
        matches!(e, ClientEvent::Media { kind: MediaKind::Video, payload, .. } if payload.first().is_some_and(|b| b & 0x80 != 0))
    });
    assert!(!enhanced_bytes, "a legacy client got enhanced video");
    let told = legacy.events.iter().filter(|e| matches!(e, ClientEvent::Status { info, .. } if info.get_str("code") == Some("NetStream.Play.NoSupportedTrackFound"))).count();
    assert_eq!(told, 1, "told once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_drain_sends_reconnect_request() {
    let mut gateway = Gateway::start("drain_secs = 5\nreconnect_url = \"rtmp://127.0.0.2/live\"");
    let (mut c, _, _) = client(&gateway, "live", true).await;
    let (mut plain, _, _) = client(&gateway, "live", false).await;
    Command::new("kill")
        .args(["-TERM", &gateway.pid().to_string()])
        .status()
        .unwrap();
    for client in [&mut c, &mut plain] {
        let info = client
            .wait_status("NetConnection.Connect.ReconnectRequest")
            .await;
        assert_eq!(info.get_str("tcUrl"), Some("rtmp://127.0.0.2/live"));
        assert_eq!(info.get_str("level"), Some("status"));
    }
    // Still serving during the drain; once the clients leave, the gateway stops early.
    assert!(gateway.is_running());
    drop((c, plain));
    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    while gateway.is_running() {
        assert!(
            std::time::Instant::now() < deadline,
            "the drain did not end when the clients left"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
