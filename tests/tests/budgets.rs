//! Budgets: each limit of what one connection may make the gateway hold, pushed past through
//! the real gateway. The offender gets a clean refusal or is disconnected, and a viewer of
//! another stream keeps receiving media meanwhile.

use std::time::Duration;

use rtmpws_protocol::chunk::{ChunkEncoder, MessageHeader};
use rtmpws_protocol::client::ClientEvent;
use rtmpws_protocol::{ChunkStreamId, MediaKind, MessageType, StreamId, Timestamp};
use rtmpws_tests::{summarize, test_flv, Ffmpeg, Gateway, TestClient};

/// ffmpeg publishing `live/NAME` and a WebSocket viewer already receiving its video.
async fn healthy_viewer(gateway: &Gateway, name: &str) -> (Ffmpeg, TestClient) {
    let ffmpeg = Ffmpeg::publish(&test_flv(30), &gateway.rtmp_url(&format!("live/{name}")));
    let mut viewer = TestClient::connect(&gateway.ws_url("live"), &[]).await;
    assert!(viewer.connect_answer().await.0);
    let stream = viewer.create_stream().await;
    viewer.session().play(stream, name, -2.0, -1.0, true);
    viewer.flush().await;
    viewer
        .wait_for("video", |e| {
            matches!(
                e,
                ClientEvent::Media {
                    kind: MediaKind::Video,
                    ..
                }
            )
        })
        .await;
    (ffmpeg, viewer)
}

/// The viewer still receives video (the test stream has 30 frames a second).
async fn keeps_playing(viewer: &mut TestClient) {
    let events = viewer.collect_for(Duration::from_millis(1500)).await;
    let frames = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                ClientEvent::Media {
                    kind: MediaKind::Video,
                    ..
                }
            )
        })
        .count();
    assert!(!viewer.is_closed(), "the healthy viewer was disconnected");
    assert!(
        frames >= 10,
        "the healthy viewer got {frames} video frames in 1.5 s: {:?}",
        summarize(&events)
    );
}

/// A fmt 0 chunk header: chunk stream `csid` (3..=63), a message of `length` bytes.
fn fmt0_header(csid: u8, length: u32, type_id: MessageType, stream_id: u32) -> Vec<u8> {
    let mut header = vec![csid, 0, 0, 0];
    header.extend_from_slice(&length.to_be_bytes()[1..]);
    header.push(type_id.0);
    header.extend_from_slice(&stream_id.to_le_bytes());
    header
}

/// One whole message on the control chunk stream, chunked at 4096.
fn control_message(type_id: MessageType, payload: &[u8]) -> Vec<u8> {
    let mut encoder = ChunkEncoder::new();
    encoder.set_chunk_size(4096);
    let mut out = bytes::BytesMut::new();
    let header = MessageHeader {
        csid: ChunkStreamId::CONTROL,
        timestamp: Timestamp(0),
        type_id,
        stream_id: StreamId(0),
    };
    encoder.encode(&header, payload, &mut out).unwrap();
    out.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_unfinished_messages_past_the_reassembly_budget_disconnect() {
    let gateway = Gateway::start("max_message_size = 524288\nmax_reassembly_bytes = 1048576");
    let (_ffmpeg, mut viewer) = healthy_viewer(&gateway, "cam").await;

    let mut attacker = TestClient::connect(&gateway.rtmp_url("live"), &[]).await;
    assert!(attacker.connect_answer().await.0);
    // 64 KiB chunks, then 20 chunk streams each left with the first 64 KiB of a 400 KB
    // message: each is within max_message_size, together they pass 1 MiB at the 17th.
    attacker
        .send_raw(&control_message(
            MessageType::SET_CHUNK_SIZE,
            &65536u32.to_be_bytes(),
        ))
        .await;
    for csid in 10..30 {
        let mut chunk = fmt0_header(csid, 400_000, MessageType::VIDEO, 1);
        chunk.extend(std::iter::repeat_n(0x27u8, 65536));
        attacker.send_raw(&chunk).await;
    }
    assert!(
        attacker.closes_within(Duration::from_secs(5)).await,
        "the attacker stays connected"
    );
    assert!(
        gateway.log().contains("reassembly limit"),
        "no log line says why"
    );
    keeps_playing(&mut viewer).await;

    // Below the budget, the same pattern is fine: 15 unfinished messages, then finished.
    let mut client = TestClient::connect(&gateway.rtmp_url("live"), &[]).await;
    assert!(client.connect_answer().await.0);
    client
        .send_raw(&control_message(
            MessageType::SET_CHUNK_SIZE,
            &65536u32.to_be_bytes(),
        ))
        .await;
    for csid in 10..25 {
        let mut chunk = fmt0_header(csid, 65536 + 10, MessageType::VIDEO, 1);
        chunk.extend(std::iter::repeat_n(0x27u8, 65536));
        client.send_raw(&chunk).await;
    }
    for csid in 10..25 {
        let mut rest = vec![0xC0 | csid];
        rest.extend_from_slice(&[0x27; 10]);
        client.send_raw(&rest).await;
    }
    assert!(client.is_open_after(Duration::from_millis(500)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_stream_past_the_limit_fails_and_the_connection_stays() {
    let gateway = Gateway::start("max_streams_per_connection = 2");
    let (_ffmpeg, mut viewer) = healthy_viewer(&gateway, "cam").await;

    let mut client = TestClient::connect(&gateway.rtmp_url("live"), &[]).await;
    assert!(client.connect_answer().await.0);
    let first = client.create_stream().await;
    let second = client.create_stream().await;
    let transaction = client.session().create_stream();
    client.flush().await;
    let refusal = client
        .wait_for("createStream _error", |e| {
            matches!(e, ClientEvent::CallError { transaction_id, .. } if *transaction_id == transaction)
        })
        .await;
    let ClientEvent::CallError { args, .. } = refusal else {
        unreachable!()
    };
    assert_eq!(args[0].get_str("code"), Some("NetConnection.Call.Failed"));
    assert!(
        args[0]
            .get_str("description")
            .is_some_and(|d| d.contains("already has 2 streams")),
        "{args:?}"
    );
    keeps_playing(&mut viewer).await;

    // The connection goes on: its streams play, and a deleted one makes room for another.
    client.session().play(first, "cam", -2.0, -1.0, true);
    client.flush().await;
    client.wait_status("NetStream.Play.Start").await;
    client.session().delete_stream(second);
    client.flush().await;
    let third = client.create_stream().await;
    assert!(third.0 > second.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_stream_names_are_refused_and_the_connection_stays() {
    let gateway = Gateway::start("max_stream_name_bytes = 64");
    let (_ffmpeg, mut viewer) = healthy_viewer(&gateway, "cam").await;

    let long = "x".repeat(65);
    let mut client = TestClient::connect(&gateway.rtmp_url("live"), &[]).await;
    assert!(client.connect_answer().await.0);
    let stream = client.create_stream().await;
    client.session().publish(stream, &long, "live");
    client.flush().await;
    let bad = client.wait_status("NetStream.Publish.BadName").await;
    assert_eq!(
        bad.get_str("description"),
        Some("publish: the stream name is 65 bytes long; at most 64 are allowed")
    );
    client.session().play(stream, &long, -2.0, -1.0, true);
    client.flush().await;
    client.wait_status("NetStream.Play.StreamNotFound").await;
    let transaction = client
        .session()
        .call("getStreamLength", vec![long.as_str().into()]);
    client.flush().await;
    client
        .wait_for("getStreamLength _error", |e| {
            matches!(e, ClientEvent::CallError { transaction_id, .. } if *transaction_id == transaction)
        })
        .await;
    assert!(
        !gateway.log().contains(&long),
        "the name reached the gateway"
    );
    keeps_playing(&mut viewer).await;

    // A name at the limit plays.
    let fits = "y".repeat(64);
    client.session().play(stream, &fits, -1.0, -1.0, true);
    client.flush().await;
    client.wait_status("NetStream.Play.Start").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playlist_appends_past_the_limit_fail_and_playback_goes_on() {
    let gateway = Gateway::start("max_playlist_items = 2");
    gateway.add_recorded("vod", "a.flv", &std::fs::read(test_flv(2)).unwrap());
    let (_ffmpeg, mut viewer) = healthy_viewer(&gateway, "cam").await;

    let mut client = TestClient::connect(&gateway.ws_url("vod"), &[]).await;
    assert!(client.connect_answer().await.0);
    let stream = client.create_stream().await;
    client.session().play(stream, "a", 0.0, -1.0, true);
    for _ in 0..5 {
        client.session().play(stream, "a", 0.0, -1.0, false);
    }
    client.flush().await;
    client.wait_status("NetStream.Play.Start").await;
    for _ in 0..3 {
        let failed = client.wait_status("NetStream.Play.Failed").await;
        assert_eq!(
            failed.get_str("description"),
            Some("Cannot add a to the playlist: 2 items are already waiting, the most allowed.")
        );
        assert_eq!(failed.get_str("details"), Some("a"));
    }
    keeps_playing(&mut viewer).await;
    // The first item plays on, then the two that fitted, then the playlist ends.
    client.wait_for("the switch to the second item", |e| {
        matches!(e, ClientEvent::PlayStatus { info, .. } if info.get_str("code") == Some("NetStream.Play.Switch"))
    }).await;
    client.wait_status("NetStream.Play.Stop").await;
    let switches = client
        .events
        .iter()
        .filter(|e| matches!(e, ClientEvent::PlayStatus { info, .. } if info.get_str("code") == Some("NetStream.Play.Switch")))
        .count();
    assert_eq!(switches, 2, "{:#?}", summarize(&client.events));
    let failures = client
        .events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Status { info, .. } if info.get_str("code") == Some("NetStream.Play.Failed")))
        .count();
    assert_eq!(failures, 3);
    assert!(!client.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_more_output_than_the_budget_at_once_disconnects() {
    // A snapshot must fit: 1 MiB of GOP + 3 * 256 KiB <= 2 MiB.
    let gateway = Gateway::start(
        "gop_cache_bytes = 1048576\nmax_message_size = 262144\nmax_queued_output_bytes = 2097152",
    );
    let (_ffmpeg, mut viewer) = healthy_viewer(&gateway, "cam").await;

    // One WebSocket message of 300 plays of the same stream: each is answered with the
    // stream's snapshot (its GOP so far), many megabytes in all, asked for in a few kilobytes.
    let mut client = TestClient::connect(&gateway.ws_url("live"), &[]).await;
    assert!(client.connect_answer().await.0);
    let stream = client.create_stream().await;
    for _ in 0..300 {
        client.session().play(stream, "cam", -2.0, -1.0, true);
    }
    client.flush().await;
    assert!(
        client.closes_within(Duration::from_secs(10)).await,
        "the client stays connected"
    );
    assert!(
        gateway.log().contains("over the 2097152-byte limit"),
        "no log line says why"
    );
    keeps_playing(&mut viewer).await;

    // Playing once, the same client is fine.
    let mut client = TestClient::connect(&gateway.ws_url("live"), &[]).await;
    assert!(client.connect_answer().await.0);
    let stream = client.create_stream().await;
    client.session().play(stream, "cam", -2.0, -1.0, true);
    client.flush().await;
    client.wait_status("NetStream.Play.Start").await;
    assert!(client.is_open_after(Duration::from_millis(500)).await);
}

/// A stream of 150 video frames of 100 KB, published while one subscriber stalls (reads
/// nothing) and another reads everything; then the stalled one reads. Returns whether the
/// stalled one was told InsufficientBW, and how many of the frames the reader got.
async fn stall_through_large_frames(gateway: &Gateway) -> (bool, usize) {
    let mut publisher = TestClient::connect(&gateway.rtmp_url("live"), &[]).await;
    assert!(publisher.connect_answer().await.0);
    let p = publisher.create_stream().await;
    publisher.session().publish(p, "big", "live");
    publisher.flush().await;
    publisher.wait_status("NetStream.Publish.Start").await;
    let mut reader = TestClient::connect(&gateway.ws_url("live"), &[]).await;
    assert!(reader.connect_answer().await.0);
    let r = reader.create_stream().await;
    reader.session().play(r, "big", -1.0, -1.0, true);
    reader.flush().await;
    reader.wait_status("NetStream.Play.Start").await;
    let mut stalled = TestClient::connect_slow(&gateway.rtmp_url("live"), 4096).await;
    assert!(stalled.connect_answer().await.0);
    let s = stalled.create_stream().await;
    stalled.session().play(s, "big", -1.0, -1.0, true);
    stalled.flush().await;
    stalled.wait_status("NetStream.Play.Start").await;

    let publish = tokio::spawn(async move {
        for seq in 0u32..150 {
            let mut body = vec![if seq % 50 == 0 { 0x17 } else { 0x27 }, 1, 0, 0, 0];
            body.resize(100_000, 0xAB);
            publisher.session().send_media(
                p,
                Timestamp(seq * 20),
                MediaKind::Video,
                bytes::Bytes::from(body),
            );
            publisher.flush().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        publisher
    });
    let mut frames = 0;
    while frames < 150 {
        match reader.next_event(Duration::from_secs(5)).await {
            Some(ClientEvent::Media { .. }) => frames += 1,
            Some(_) => {}
            None => break,
        }
    }
    let _publisher = publish.await.unwrap();
    let events = stalled.collect_for(Duration::from_secs(4)).await;
    let warned = events.iter().any(|e| {
        matches!(e, ClientEvent::Status { info, .. } if info.get_str("code") == Some("NetStream.Play.InsufficientBW"))
    });
    (warned, frames)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_ring_is_bounded_in_bytes_as_well_as_messages() {
    // 1024 places of 1 KiB: a 100 KB frame takes 98 of them, so the ring keeps about ten.
    let gateway = Gateway::start(
        "subscriber_queue_bytes = 1048576\nsubscriber_max_dropped = 1000000\ninsufficient_bw_interval_secs = 1",
    );
    let (_ffmpeg, mut viewer) = healthy_viewer(&gateway, "cam").await;
    let (warned, frames) = stall_through_large_frames(&gateway).await;
    assert!(warned, "the stalled subscriber lost nothing");
    assert_eq!(frames, 150, "the reading subscriber lost frames");
    keeps_playing(&mut viewer).await;

    // With the default 64 MiB, the same 15 MB stall fits the ring's 1024 messages: no loss.
    let gateway = Gateway::start("subscriber_max_dropped = 1000000");
    let (warned, frames) = stall_through_large_frames(&gateway).await;
    assert!(
        !warned,
        "the stalled subscriber lost frames with the default budget"
    );
    assert_eq!(frames, 150);
}
