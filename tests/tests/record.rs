//! Recording and the publisher's lifecycle through the real gateway: Record.*, Publish.Idle,
//! Play.InsufficientBW, NetStream.Failed, a publisher taking its stream back.

use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtmpws_protocol::client::ClientEvent;
use rtmpws_protocol::MediaKind;
use rtmpws_protocol::{StreamId, Timestamp};
use rtmpws_tests::{describe, flv_tags, probe, test_flv, Ffmpeg, Gateway, TempDir, TestClient};

async fn publisher(gateway: &Gateway, name: &str, mode: &str) -> (TestClient, StreamId) {
    let mut client = TestClient::connect(&gateway.rtmp_url("live"), &[]).await;
    assert!(client.connect_answer().await.0);
    let stream = client.create_stream().await;
    client.session().publish(stream, name, mode);
    client.flush().await;
    client.wait_status("NetStream.Publish.Start").await;
    (client, stream)
}

async fn subscriber(gateway: &Gateway, name: &str) -> (TestClient, StreamId) {
    let mut client = TestClient::connect(&gateway.ws_url("live"), &[]).await;
    assert!(client.connect_answer().await.0);
    let stream = client.create_stream().await;
    client.session().play(stream, name, -1.0, -1.0, true);
    client.flush().await;
    client.wait_status("NetStream.Play.Start").await;
    (client, stream)
}

/// Sends the tags of a file with timestamps `ts + shift`, paced at `speed` times real time.
async fn send_tags(
    client: &mut TestClient,
    stream: StreamId,
    tags: &[(MediaKind, u32, Bytes)],
    shift: u32,
    speed: f64,
) {
    let start = Instant::now();
    for (kind, ts, body) in tags {
        let due = Duration::from_secs_f64(f64::from(*ts) / 1000.0 / speed);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        client
            .session()
            .send_media(stream, Timestamp(ts + shift), *kind, body.clone());
        client.flush().await;
    }
}

fn status_lines(events: &[ClientEvent]) -> Vec<String> {
    events
        .iter()
        .map(describe)
        .filter(|l| l.starts_with("onStatus"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_stream_recorded_by_record_all_plays_back_and_probes() {
    let gateway = Gateway::start("record_all = [\"live\"]");
    let mut ffmpeg = Ffmpeg::publish(&test_flv(4), &gateway.rtmp_url("live/show"));
    assert_eq!(ffmpeg.wait(Duration::from_secs(20)), Some(true));
    let path = gateway.dir.path().join("media/live/show.flv");
    // The recorder finalises in the background; wait for its rename.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !probe_has_keyframes(&path) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        probe_has_keyframes(&path),
        "final metadata with a keyframe table"
    );
    let (frames, duration) = probe(&path);
    assert_eq!(frames, 120, "every frame recorded");
    assert!((duration - 4.0).abs() < 0.2, "duration {duration}");

    // It plays back through the gateway as a recorded stream, with seek.
    let mut client = TestClient::connect(&gateway.ws_url("live"), &[]).await;
    assert!(client.connect_answer().await.0);
    let stream = client.create_stream().await;
    client.session().play(stream, "show", 0.0, -1.0, true);
    client.flush().await;
    client.wait_status("NetStream.Play.Start").await;
    client
        .session()
        .stream_command(stream, "seek", vec![2500.0.into()]);
    client.flush().await;
    client.wait_status("NetStream.Seek.Notify").await;
    let keyframe = client
        .wait_for("keyframe", |e| matches!(e, ClientEvent::Media { kind: MediaKind::Video, payload, .. } if payload[0] >> 4 == 1 && payload[1] == 1))
        .await;
    assert!(matches!(
        keyframe,
        ClientEvent::Media {
            timestamp: Timestamp(2000),
            ..
        }
    ));
}

fn probe_has_keyframes(path: &std::path::Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    bytes
        .windows(b"filepositions".len())
        .any(|w| w == b"filepositions")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_append_and_append_with_gap_timestamps() {
    let gateway = Gateway::start("");
    let tags = flv_tags(&test_flv(2));
    let path = gateway.dir.path().join("media/live/take.flv");
    let (mut client, stream) = publisher(&gateway, "take", "record").await;
    client.wait_status("NetStream.Record.Start").await;
    send_tags(&mut client, stream, &tags, 0, 20.0).await;
    client.session().close_stream(stream);
    client.flush().await;
    client.wait_status("NetStream.Unpublish.Success").await;
    let lines = status_lines(&client.events);
    assert_eq!(
        lines,
        [
            "onStatus NetStream.Publish.Start",
            "onStatus NetStream.Record.Start",
            "onStatus NetStream.Record.Stop",
            "onStatus NetStream.Unpublish.Success"
        ]
    );
    let last_of = |path: &std::path::Path| flv_tags(path).iter().map(|t| t.1).max().unwrap_or(0);
    assert_final(&path);
    let first_end = last_of(&path);
    assert!((1900..=2100).contains(&first_end), "{first_end}");

    // append: timestamps continue.
    let stream2 = client.create_stream().await;
    client.session().publish(stream2, "take", "append");
    client.flush().await;
    client.wait_status("NetStream.Record.Start").await;
    send_tags(&mut client, stream2, &tags, 5000, 20.0).await;
    client.session().close_stream(stream2);
    client.flush().await;
    client.wait_status("NetStream.Unpublish.Success").await;
    assert_final(&path);
    let recorded = flv_tags(&path);
    let second_start = recorded
        .iter()
        .map(|t| t.1)
        .filter(|ts| *ts > first_end)
        .min()
        .unwrap();
    assert!(
        second_start <= first_end + 50,
        "continuous: {first_end} then {second_start}"
    );
    let appended_end = last_of(&path);
    assert!(appended_end >= first_end * 2 - 100, "{appended_end}");

    // appendWithGap: the wall-clock gap stays.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stream3 = client.create_stream().await;
    client.session().publish(stream3, "take", "appendWithGap");
    client.flush().await;
    client.wait_status("NetStream.Record.Start").await;
    send_tags(&mut client, stream3, &tags[..20], 0, 20.0).await;
    client.session().close_stream(stream3);
    client.flush().await;
    client.wait_status("NetStream.Unpublish.Success").await;
    assert_final(&path);
    let third_start = flv_tags(&path)
        .iter()
        .map(|t| t.1)
        .filter(|ts| *ts > appended_end)
        .min()
        .unwrap();
    assert!(
        third_start >= appended_end + 1400,
        "gap kept: {appended_end} then {third_start}"
    );
    let (frames, _) = probe(&path);
    assert!(frames >= 120, "{frames}");
}

/// Record.Stop comes only once the recorder's final rewrite is in place: the file has its
/// keyframe table and no temporary file is left.
fn assert_final(path: &std::path::Path) {
    assert!(
        probe_has_keyframes(path),
        "{} has its final metadata when Record.Stop arrives",
        path.display()
    );
    assert!(!path.with_extension("flv.finishing").exists());
}

/// The publisher closes before the recorder has even opened the file, and deletes the stream
/// too: the statuses still come in order, and only once the file is final.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_closed_at_once_still_ends_in_order_with_a_final_file() {
    let gateway = Gateway::start("");
    let tags = flv_tags(&test_flv(1));
    let mut client = TestClient::connect(&gateway.rtmp_url("live"), &[]).await;
    assert!(client.connect_answer().await.0);
    let stream = client.create_stream().await;
    client.session().publish(stream, "blink", "record");
    for (kind, ts, body) in &tags {
        client
            .session()
            .send_media(stream, Timestamp(*ts), *kind, body.clone());
    }
    client.session().close_stream(stream);
    client.session().delete_stream(stream);
    client.flush().await;
    client.wait_status("NetStream.Unpublish.Success").await;
    assert_final(&gateway.dir.path().join("media/live/blink.flv"));
    assert_eq!(
        status_lines(&client.events),
        [
            "onStatus NetStream.Publish.Start",
            "onStatus NetStream.Record.Start",
            "onStatus NetStream.Record.Stop",
            "onStatus NetStream.Unpublish.Success"
        ]
    );
}

/// Publishing again on the same stream while the last recording is still being finalised
/// waits for it: the statuses of both stay in order and the append finds the file free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_right_after_a_recording_waits_for_its_file() {
    let gateway = Gateway::start("");
    let tags = flv_tags(&test_flv(1));
    let (mut client, stream) = publisher(&gateway, "again", "record").await;
    client.wait_status("NetStream.Record.Start").await;
    send_tags(&mut client, stream, &tags, 0, 20.0).await;
    client.session().close_stream(stream);
    client.session().publish(stream, "again", "append");
    client.flush().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && status_lines(&client.events)
            .iter()
            .filter(|l| l.ends_with("Record.Start"))
            .count()
            < 2
    {
        if client.next_event(Duration::from_secs(1)).await.is_none() {
            break;
        }
    }
    assert_eq!(
        status_lines(&client.events),
        [
            "onStatus NetStream.Publish.Start",
            "onStatus NetStream.Record.Start",
            "onStatus NetStream.Record.Stop",
            "onStatus NetStream.Unpublish.Success",
            "onStatus NetStream.Publish.Start",
            "onStatus NetStream.Record.Start"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_recordings_before_exiting() {
    let mut gateway = Gateway::start("");
    let tags = flv_tags(&test_flv(2));
    let (mut client, stream) = publisher(&gateway, "last", "record").await;
    client.wait_status("NetStream.Record.Start").await;
    send_tags(&mut client, stream, &tags, 0, 20.0).await;
    assert!(gateway.terminate(), "gateway exits cleanly on SIGTERM");
    client.wait_status("NetStream.Unpublish.Success").await;
    assert_eq!(
        status_lines(&client.events)[2..],
        [
            "onStatus NetStream.Record.Stop",
            "onStatus NetStream.Unpublish.Success"
        ]
    );
    let path = gateway.dir.path().join("media/live/last.flv");
    assert_final(&path);
    let (frames, duration) = probe(&path);
    assert_eq!(frames, 60, "every frame recorded");
    assert!((duration - 2.0).abs() < 0.2, "duration {duration}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn already_exists_no_access_and_quota() {
    let gateway = Gateway::start("record_max_bytes = 60000");
    gateway.add_recorded("live", "vodfile.flv", &std::fs::read(test_flv(6)).unwrap());
    let tags = flv_tags(&test_flv(4));

    // "cam" and "cam.flv" are different live streams but the same file.
    let (mut first, _) = publisher(&gateway, "cam", "record").await;
    first.wait_status("NetStream.Record.Start").await;
    let (mut second, _) = publisher(&gateway, "cam.flv", "record").await;
    let exists = second.wait_status("NetStream.Record.AlreadyExists").await;
    assert_eq!(exists.get_str("details"), Some("cam.flv"));

    // A name that escapes the folder, and a file being played right now.
    let (mut third, _) = publisher(&gateway, "../escape", "record").await;
    third.wait_status("NetStream.Record.NoAccess").await;
    let mut viewer = TestClient::connect(&gateway.ws_url("live"), &[]).await;
    assert!(viewer.connect_answer().await.0);
    let v = viewer.create_stream().await;
    viewer.session().play(v, "vodfile", 0.0, -1.0, true);
    viewer.flush().await;
    viewer.wait_status("NetStream.Play.Start").await;
    let (mut fourth, _) = publisher(&gateway, "vodfile", "record").await;
    fourth.wait_status("NetStream.Record.NoAccess").await;

    // Quota: the recording stops, live publishing goes on.
    let (mut watcher, _) = subscriber(&gateway, "big").await;
    let (mut big, stream) = publisher(&gateway, "big", "record").await;
    big.wait_status("NetStream.Record.Start").await;
    send_tags(&mut big, stream, &tags, 0, 10.0).await;
    let quota = big.wait_status("NetStream.Record.DiskQuotaExceeded").await;
    assert_eq!(quota.get_str("level"), Some("error"));
    big.wait_status("NetStream.Record.Stop").await;
    let before = watcher.events.len();
    big.session().send_media(
        stream,
        Timestamp(5000),
        MediaKind::Audio,
        Bytes::from_static(&[0xAF, 1, 0x21, 0x10]),
    );
    big.flush().await;
    watcher
        .wait_for("media after the quota", |e| {
            matches!(
                e,
                ClientEvent::Media {
                    timestamp: Timestamp(5000),
                    ..
                }
            )
        })
        .await;
    assert!(watcher.events.len() > before);
    let size = std::fs::metadata(gateway.dir.path().join("media/live/big.flv"))
        .unwrap()
        .len();
    assert!(size <= 60_000 + 4096, "{size}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_quota_holds_for_concurrent_recordings_and_files_already_there() {
    let gateway = Gateway::start("record_app_max_bytes = 200000");
    // A file already there takes a quarter of the folder's budget; each recording (about
    // 100 kB) fits beside it alone, not both together.
    gateway.add_recorded("live", "old.bin", &vec![0u8; 50_000]);
    let tags = flv_tags(&test_flv(2));
    let one: u64 = tags.iter().map(|(_, _, body)| body.len() as u64 + 15).sum();
    assert!(
        50_000 + one < 200_000 && 50_000 + 2 * one > 200_000,
        "{one}"
    );
    let (mut a, a_stream) = publisher(&gateway, "a", "record").await;
    let (mut b, b_stream) = publisher(&gateway, "b", "record").await;
    a.wait_status("NetStream.Record.Start").await;
    b.wait_status("NetStream.Record.Start").await;
    // Both write at once.
    tokio::join!(
        send_tags(&mut a, a_stream, &tags, 0, 10.0),
        send_tags(&mut b, b_stream, &tags, 0, 10.0),
    );
    let mut exceeded = 0;
    for client in [&mut a, &mut b] {
        let seen = client
            .collect_for(Duration::from_millis(1500))
            .await
            .into_iter()
            .chain(client.events.clone())
            .any(|e| matches!(&e, ClientEvent::Status { info, .. } if info.get_str("code") == Some("NetStream.Record.DiskQuotaExceeded")));
        exceeded += usize::from(seen);
    }
    assert!(exceeded >= 1, "the shared budget stopped a recording");
    let folder = gateway.dir.path().join("media/live");
    let total: u64 = ["old.bin", "a.flv", "b.flv"]
        .iter()
        .map(|f| std::fs::metadata(folder.join(f)).map_or(0, |m| m.len()))
        .sum();
    // Each file is rewritten once with its final metadata (a few hundred bytes), and a tag
    // in flight when the limit is reached may land: a little slack, not a second budget.
    assert!(total <= 200_000 + 8192, "{total} bytes in the folder");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_duration_limit_follows_the_gateways_clock_not_the_publishers_timestamps() {
    let gateway = Gateway::start("record_max_secs = 1");
    let (mut client, stream) = publisher(&gateway, "frozen", "record").await;
    client.wait_status("NetStream.Record.Start").await;
    let started = Instant::now();
    // Timestamps that never advance: by them the recording would last forever.
    let mut stopped = false;
    while started.elapsed() < Duration::from_secs(5) && !stopped {
        client.session().send_media(
            stream,
            Timestamp(0),
            MediaKind::Audio,
            Bytes::from_static(&[0xAF, 1, 0x21, 0x10]),
        );
        client.flush().await;
        stopped = client
            .collect_for(Duration::from_millis(100))
            .await
            .iter()
            .any(|e| matches!(e, ClientEvent::Status { info, .. } if info.get_str("code") == Some("NetStream.Record.DiskQuotaExceeded")));
    }
    assert!(stopped, "no DiskQuotaExceeded in 5 s");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "{took:?}");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A tmpfs of `size` at a new folder, unmounted on drop. Needs root.
struct Tmpfs(TempDir);

impl Tmpfs {
    fn mount(options: &str) -> Option<Tmpfs> {
        if !is_root() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs as root: tmpfs tests must run"
            );
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        let dir = TempDir::new("tmpfs");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount tmpfs failed");
        Some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_record_failed_and_a_read_only_one_no_access() {
    let Some(full) = Tmpfs::mount("size=96k") else {
        return;
    };
    let gateway = Gateway::start(&format!("record_dir = \"{}\"", full.0.path().display()));
    let tags = flv_tags(&test_flv(4));
    let (mut watcher, _) = subscriber(&gateway, "disk").await;
    let (mut client, stream) = publisher(&gateway, "disk", "record").await;
    client.wait_status("NetStream.Record.Start").await;
    send_tags(&mut client, stream, &tags, 0, 10.0).await;
    let failed = client.wait_status("NetStream.Record.Failed").await;
    assert!(
        failed.get_str("description").unwrap().contains("No space"),
        "{failed:?}"
    );
    client.session().send_media(
        stream,
        Timestamp(9000),
        MediaKind::Audio,
        Bytes::from_static(&[0xAF, 1, 0x21, 0x10]),
    );
    client.flush().await;
    watcher
        .wait_for("live goes on", |e| {
            matches!(
                e,
                ClientEvent::Media {
                    timestamp: Timestamp(9000),
                    ..
                }
            )
        })
        .await;
    drop(gateway);

    let Some(read_only) = Tmpfs::mount("size=1m,ro") else {
        return;
    };
    let gateway = Gateway::start(&format!(
        "record_dir = \"{}\"",
        read_only.0.path().display()
    ));
    let (mut client, _) = publisher(&gateway, "ro", "record").await;
    let no_access = client.wait_status("NetStream.Record.NoAccess").await;
    assert!(
        no_access
            .get_str("description")
            .unwrap()
            .contains("Read-only"),
        "{no_access:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_survives_kill_9_up_to_the_last_flush() {
    let gateway = Gateway::start("");
    let tags = flv_tags(&test_flv(6));
    let (mut client, stream) = publisher(&gateway, "crash", "record").await;
    client.wait_status("NetStream.Record.Start").await;
    send_tags(&mut client, stream, &tags, 0, 2.0).await;
    // Past the flush interval, then kill -9 without any goodbye.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let pid = gateway.pid();
    assert!(Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let path = gateway.dir.path().join("media/live/crash.flv");
    let (frames, _) = probe(&path);
    assert!(
        frames >= 150,
        "ffprobe reads {frames} frames of 180 after kill -9"
    );

    // And a new gateway plays it.
    let again = Gateway::start("");
    again.add_recorded("live", "crash.flv", &std::fs::read(&path).unwrap());
    let mut viewer = TestClient::connect(&again.ws_url("live"), &[]).await;
    assert!(viewer.connect_answer().await.0);
    let v = viewer.create_stream().await;
    viewer.session().play(v, "crash", 0.0, -1.0, true);
    viewer.flush().await;
    viewer.wait_status("NetStream.Play.Start").await;
    viewer.wait_for("a keyframe", |e| matches!(e, ClientEvent::Media { kind: MediaKind::Video, payload, .. } if payload[0] >> 4 == 1 && payload[1] == 1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_publisher_is_unpublished_until_media_resumes() {
    let gateway = Gateway::start("publish_idle_secs = 1");
    let tags = flv_tags(&test_flv(2));
    let (mut watcher, _) = subscriber(&gateway, "quiet").await;
    let (mut client, stream) = publisher(&gateway, "quiet", "live").await;
    send_tags(&mut client, stream, &tags[..30], 0, 10.0).await;
    // The publisher stays connected but sends nothing.
    let idle = client.wait_status("NetStream.Publish.Idle").await;
    assert_eq!(idle.get_str("level"), Some("status"));
    watcher.wait_status("NetStream.Play.UnpublishNotify").await;
    assert!(client.is_open_after(Duration::from_millis(200)).await);
    // Media again: published again, subscribers told.
    send_tags(&mut client, stream, &tags[30..60], 0, 10.0).await;
    watcher.wait_status("NetStream.Play.PublishNotify").await;
    watcher
        .wait_for("media again", |e| matches!(e, ClientEvent::Media { .. }))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_drops_takes_its_stream_back_and_viewers_stay() {
    let gateway = Gateway::start("");
    let tags = flv_tags(&test_flv(2));
    let (mut watcher, _) = subscriber(&gateway, "back").await;
    let (mut first, stream) = publisher(&gateway, "back", "live").await;
    send_tags(&mut first, stream, &tags[..20], 0, 10.0).await;
    drop(first);
    watcher.wait_status("NetStream.Play.UnpublishNotify").await;
    let (mut again, stream) = publisher(&gateway, "back", "live").await;
    watcher.wait_status("NetStream.Play.PublishNotify").await;
    send_tags(&mut again, stream, &tags[..20], 0, 10.0).await;
    watcher
        .wait_for("media from the new connection", |e| {
            matches!(
                e,
                ClientEvent::Media {
                    kind: MediaKind::Video,
                    ..
                }
            )
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_command_that_cannot_apply_is_net_stream_failed() {
    let gateway = Gateway::start("");
    let mut client = TestClient::connect(&gateway.ws_url("live"), &[]).await;
    assert!(client.connect_answer().await.0);
    let stream = client.create_stream().await;
    client
        .session()
        .stream_command(stream, "pause", vec![true.into(), 0.0.into()]);
    client.flush().await;
    let failed = client.wait_status("NetStream.Failed").await;
    assert_eq!(failed.get_str("level"), Some("error"));
    assert!(failed
        .get_str("description")
        .unwrap()
        .contains("nothing is playing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_gets_insufficient_bw_and_others_stay_fast() {
    let gateway = Gateway::start("subscriber_queue = 64\ninsufficient_bw_interval_secs = 1");
    let (mut healthy, _) = subscriber(&gateway, "fast").await;
    let mut slow = TestClient::connect_slow(&gateway.rtmp_url("live"), 4096).await;
    assert!(slow.connect_answer().await.0);
    let s = slow.create_stream().await;
    slow.session().play(s, "fast", -1.0, -1.0, true);
    slow.flush().await;
    slow.wait_status("NetStream.Play.Start").await;
    let (mut source, stream) = publisher(&gateway, "fast", "live").await;

    // 100 frames a second of 20 KB (16 Mbit/s) for 5 s; each carries its sequence number.
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sent_by_publisher = std::sync::Arc::clone(&sent);
    let publish = tokio::spawn(async move {
        let start = Instant::now();
        for seq in 0u32..500 {
            let due = Duration::from_millis(u64::from(seq) * 10);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                tokio::time::sleep(wait).await;
            }
            let mut body = vec![if seq % 50 == 0 { 0x17 } else { 0x27 }, 1, 0, 0, 0];
            body.extend_from_slice(&seq.to_be_bytes());
            body.resize(20_000, 0xAB);
            sent_by_publisher.lock().unwrap().push(Instant::now());
            source.session().send_media(
                stream,
                Timestamp(seq * 10),
                MediaKind::Video,
                Bytes::from(body),
            );
            source.flush().await;
        }
        source
    });
    // The healthy subscriber reads everything as it comes; the slow one reads nothing.
    let mut latencies = Vec::new();
    let mut received = 0;
    while received < 500 {
        match healthy.next_event(Duration::from_secs(10)).await {
            Some(ClientEvent::Media { payload, .. }) if payload.len() >= 9 => {
                let seq = u32::from_be_bytes(payload[5..9].try_into().unwrap()) as usize;
                let at = Instant::now();
                if let Some(sent_at) = sent.lock().unwrap().get(seq) {
                    latencies.push(at.duration_since(*sent_at));
                }
                received += 1;
            }
            Some(_) => {}
            None => break,
        }
    }
    let _source = publish.await.unwrap();
    assert_eq!(received, 500, "the healthy subscriber lost nothing");
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    let max = latencies[latencies.len() - 1];
    println!(
        "healthy subscriber latency while another stalls: p50 {p50:?}, p99 {p99:?}, max {max:?}"
    );
    assert!(p99 < Duration::from_millis(250), "p99 {p99:?}");

    // The slow one now reads: it was told, and it skipped ahead instead of receiving all.
    let warning = slow.wait_status("NetStream.Play.InsufficientBW").await;
    assert_eq!(warning.get_str("level"), Some("warning"));
    assert!(warning.get_f64("dropped").unwrap() > 0.0);
    let frames = slow.collect_for(Duration::from_millis(1000)).await;
    let got = slow
        .events
        .iter()
        .chain(&frames)
        .filter(|e| matches!(e, ClientEvent::Media { .. }))
        .count();
    assert!(got < 500, "the slow subscriber skipped frames ({got})");
}
