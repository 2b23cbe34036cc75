//! Live streams through the real gateway: ffmpeg publishes over TCP; ffmpeg and the Rust test
//! client play over TCP and WebSocket.

use std::time::Duration;

use rtmpws_protocol::amf::Value;
use rtmpws_protocol::client::ClientEvent;
use rtmpws_protocol::message::UserControl;
use rtmpws_protocol::MediaKind;
use rtmpws_tests::{
    describe, ffmpeg_decoded_video_frames, summarize, test_flv, Ffmpeg, Gateway, TestClient,
};

/// Waits until the gateway's log shows a publisher on `name`.
async fn wait_published(client_url: &str, name: &str) {
    // A subscriber that joins before the publisher receives PublishNotify; use one as a probe.
    let mut probe = TestClient::connect(client_url, &[]).await;
    assert!(probe.connect_answer().await.0);
    let stream = probe.create_stream().await;
    probe.session().play(stream, name, -2.0, -1.0, true);
    probe.flush().await;
    probe
        .wait_for("media", |e| {
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

/// The codes and handlers of a subscriber's first events up to the first video keyframe.
fn start_sequence(events: &[ClientEvent]) -> Vec<String> {
    let mut lines = Vec::new();
    for event in events {
        let line = describe(event);
        let done = line.starts_with("Video keyframe");
        lines.push(line.split(" @").next().unwrap_or_default().to_owned());
        if done {
            break;
        }
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_subscriber_joining_a_live_stream_gets_fms_sequence_and_media_in_order() {
    let gateway = Gateway::start("");
    let media = test_flv(6);
    let mut ffmpeg = Ffmpeg::publish(&media, &gateway.rtmp_url("live/cam"));
    wait_published(&gateway.ws_url("live"), "cam").await;

    let mut client = TestClient::connect(&gateway.ws_url("live"), &[]).await;
    let (accepted, info) = client.connect_answer().await;
    assert!(accepted, "{info:?}");
    assert_eq!(info.get_str("code"), Some("NetConnection.Connect.Success"));
    assert_eq!(info.get_str("level"), Some("status"));
    assert_eq!(info.get_f64("objectEncoding"), Some(0.0));
    assert!(info.get("clientid").is_some());
    let properties = match &client.events[client.events.len() - 1] {
        ClientEvent::Connected { properties, .. } => properties.clone(),
        _ => unreachable!(),
    };
    assert!(properties
        .get_str("fmsVer")
        .is_some_and(|v| v.starts_with("FMS/")));
    assert_eq!(properties.get_f64("capabilities"), Some(31.0));

    let stream = client.create_stream().await;
    client.session().play(stream, "cam", -2.0, -1.0, true);
    client.flush().await;
    client
        .wait_for("a video keyframe", |e| matches!(e, ClientEvent::Media { kind: MediaKind::Video, payload, .. } if payload[0] >> 4 == 1 && payload[1] == 1))
        .await;
    let after_create = client
        .events
        .iter()
        .position(|e| matches!(e, ClientEvent::StreamCreated { .. }))
        .unwrap();
    let sequence = start_sequence(&client.events[after_create + 1..]);
    assert_eq!(
        sequence,
        [
            format!("StreamBegin(StreamId({}))", stream.0),
            "onStatus NetStream.Play.Reset".into(),
            "onStatus NetStream.Play.Start".into(),
            "data |RtmpSampleAccess".into(),
            "data onStatus NetStream.Data.Start".into(),
            "data onMetaData".into(),
            "Audio AAC sequence header".into(),
            "Video AVC sequence header".into(),
            "Video keyframe".into(),
        ],
        "{:#?}",
        summarize(&client.events)
    );
    let reset = client.events.iter().find_map(|e| match e {
        ClientEvent::Status { info, stream_id }
            if info.get_str("code") == Some("NetStream.Play.Reset") =>
        {
            Some((info.clone(), *stream_id))
        }
        _ => None,
    });
    let (reset, on_stream) = reset.unwrap();
    assert_eq!(
        on_stream, stream,
        "Play.Reset must travel on the NetStream, not stream 0"
    );
    assert_eq!(reset.get_str("details"), Some("cam"));
    assert_eq!(
        reset.get_str("description"),
        Some("Playing and resetting cam.")
    );
    let metadata = client.events.iter().find_map(|e| match e {
        ClientEvent::Data { values, .. }
            if values.first().and_then(Value::as_str) == Some("onMetaData") =>
        {
            values.get(1).cloned()
        }
        _ => None,
    });
    let metadata = metadata.unwrap();
    assert_eq!(metadata.get_f64("width"), Some(320.0));
    assert_eq!(metadata.get_f64("height"), Some(240.0));

    // Media keeps coming in timestamp order per track until ffmpeg ends; then UnpublishNotify.
    client.wait_status("NetStream.Play.UnpublishNotify").await;
    assert_eq!(ffmpeg.wait(Duration::from_secs(10)), Some(true));
    let mut last = [0u32; 2];
    let mut frames = [0usize; 2];
    for event in &client.events {
        if let ClientEvent::Media {
            kind, timestamp, ..
        } = event
        {
            let i = (*kind == MediaKind::Video) as usize;
            assert!(
                timestamp.0 >= last[i],
                "{kind:?} went back in time: {} after {}",
                timestamp.0,
                last[i]
            );
            last[i] = timestamp.0;
            frames[i] += 1;
        }
    }
    assert!(frames[1] >= 60, "only {} video messages", frames[1]);
    assert!(frames[0] >= 60, "only {} audio messages", frames[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_waiting_before_the_publisher_gets_publish_notify_then_media() {
    let gateway = Gateway::start("");
    let mut client = TestClient::connect(&gateway.rtmp_url("live"), &[]).await;
    assert!(client.connect_answer().await.0);
    let stream = client.create_stream().await;
    client.session().play(stream, "later", -1.0, -1.0, true);
    client.flush().await;
    client.wait_status("NetStream.Play.Start").await;
    // Nothing published yet: no media, the connection stays up.
    assert!(client.is_open_after(Duration::from_millis(500)).await);
    assert!(!client
        .events
        .iter()
        .any(|e| matches!(e, ClientEvent::Media { .. })));

    let _ffmpeg = Ffmpeg::publish(&test_flv(6), &gateway.rtmp_url("live/later"));
    client.wait_status("NetStream.Play.PublishNotify").await;
    client.wait_for("AVC sequence header", |e| matches!(e, ClientEvent::Media { kind: MediaKind::Video, payload, .. } if payload[1] == 0)).await;
    client.wait_for("a keyframe", |e| matches!(e, ClientEvent::Media { kind: MediaKind::Video, payload, .. } if payload[0] >> 4 == 1 && payload[1] == 1)).await;
    let notify = client
        .events
        .iter()
        .position(|e| describe(e) == "onStatus NetStream.Play.PublishNotify")
        .unwrap();
    let first_media = client
        .events
        .iter()
        .position(|e| matches!(e, ClientEvent::Media { .. }))
        .unwrap();
    assert!(notify < first_media);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publishes_and_ffmpeg_plays_back_over_tcp() {
    let gateway = Gateway::start("");
    let _publisher = Ffmpeg::publish(&test_flv(8), &gateway.rtmp_url("live/loop"));
    wait_published(&gateway.rtmp_url("live"), "loop").await;
    let decoded_video = ffmpeg_decoded_video_frames(&gateway.rtmp_url("live/loop"), Some(45));
    assert_eq!(decoded_video, 45, "frames decoded by ffmpeg");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_lifecycle_bad_name_and_unpublish_notify() {
    let gateway = Gateway::start("");
    // A publisher speaking the FMLE way, as ffmpeg and OBS do.
    let mut first = TestClient::connect(&gateway.rtmp_url("live"), &[]).await;
    assert!(first.connect_answer().await.0);
    first.session().call("releaseStream", vec!["show".into()]);
    first.session().call("FCPublish", vec!["show".into()]);
    let publishing = first.create_stream().await;
    first.session().publish(publishing, "show", "live");
    first.flush().await;
    let start = first.wait_status("NetStream.Publish.Start").await;
    assert_eq!(start.get_str("description"), Some("show is now published."));
    assert!(first
        .events
        .iter()
        .any(|e| matches!(e, ClientEvent::ServerCall { name, .. } if name == "onFCPublish")));
    let begin = first
        .events
        .iter()
        .position(|e| *e == ClientEvent::UserControl(UserControl::StreamBegin(publishing)))
        .unwrap();
    let start_at = first
        .events
        .iter()
        .position(|e| describe(e) == "onStatus NetStream.Publish.Start")
        .unwrap();
    assert!(begin < start_at, "StreamBegin comes before Publish.Start");

    let mut viewer = TestClient::connect(&gateway.ws_url("live"), &[]).await;
    assert!(viewer.connect_answer().await.0);
    let watching = viewer.create_stream().await;
    viewer.session().play(watching, "show", -2.0, -1.0, true);
    viewer.flush().await;
    viewer.wait_status("NetStream.Play.Start").await;

    // A second publisher on the same name: BadName on its stream, and its connection stays up.
    let mut second = TestClient::connect(&gateway.ws_url("live"), &[]).await;
    assert!(second.connect_answer().await.0);
    let s2 = second.create_stream().await;
    second.session().publish(s2, "show", "live");
    second.flush().await;
    let bad = second.wait_status("NetStream.Publish.BadName").await;
    assert_eq!(bad.get_str("level"), Some("error"));
    assert!(second.is_open_after(Duration::from_millis(300)).await);
    let s3 = second.create_stream().await;
    assert!(s3.0 > s2.0, "the connection still answers after BadName");

    // The first publisher stops: Unpublish.Success to it, UnpublishNotify to the viewer.
    first.session().call("FCUnpublish", vec!["show".into()]);
    first.session().close_stream(publishing);
    first.flush().await;
    first.wait_status("NetStream.Unpublish.Success").await;
    viewer.wait_status("NetStream.Play.UnpublishNotify").await;

    // Now the name is free.
    second.session().publish(s3, "show", "live");
    second.flush().await;
    second.wait_status("NetStream.Publish.Start").await;
    viewer.wait_status("NetStream.Play.PublishNotify").await;

    // A publisher that vanishes without closing is unpublished.
    drop(second);
    viewer.wait_status("NetStream.Play.UnpublishNotify").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_app_is_rejected_and_unknown_calls_fail() {
    let gateway = Gateway::start("");
    for url in [
        gateway.rtmp_url("nosuchapp"),
        gateway.ws_url("nosuchapp/instance"),
    ] {
        let mut client = TestClient::connect(&url, &[]).await;
        let (accepted, info) = client.connect_answer().await;
        assert!(!accepted);
        assert_eq!(info.get_str("code"), Some("NetConnection.Connect.Rejected"));
        assert_eq!(info.get_str("level"), Some("error"));
        assert!(
            client.next_event(Duration::from_secs(5)).await.is_none() && client.is_closed(),
            "closed after rejection"
        );
    }

    let mut client = TestClient::connect(&gateway.ws_url("live"), &[]).await;
    assert!(client.connect_answer().await.0);
    let transaction = client.session().call("noSuchMethod", vec![1.0.into()]);
    client.flush().await;
    let error = client
        .wait_for("_error", |e| matches!(e, ClientEvent::CallError { .. }))
        .await;
    let ClientEvent::CallError {
        transaction_id,
        args,
        ..
    } = error
    else {
        unreachable!()
    };
    assert_eq!(transaction_id, transaction);
    assert_eq!(args[0].get_str("code"), Some("NetConnection.Call.Failed"));
    assert_eq!(args[0].get_str("level"), Some("error"));
    assert!(client.is_open_after(Duration::from_millis(200)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_encoding_3_clients_connect_and_play() {
    let gateway = Gateway::start("");
    let mut client = TestClient::connect(
        &gateway.ws_url("live/room?token=abc"),
        &[("objectEncoding", Value::Number(3.0))],
    )
    .await;
    let (accepted, info) = client.connect_answer().await;
    assert!(accepted, "{info:?}");
    assert_eq!(info.get_f64("objectEncoding"), Some(3.0));
    let stream = client.create_stream().await;
    client.session().play(stream, "x", -2.0, -1.0, true);
    client.flush().await;
    client.wait_status("NetStream.Play.Start").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_tells_publishers_and_subscribers() {
    let mut gateway = Gateway::start("");
    let mut publisher = TestClient::connect(&gateway.rtmp_url("live"), &[]).await;
    assert!(publisher.connect_answer().await.0);
    let p = publisher.create_stream().await;
    publisher.session().publish(p, "bye", "live");
    publisher.flush().await;
    publisher.wait_status("NetStream.Publish.Start").await;
    let mut viewer = TestClient::connect(&gateway.ws_url("live"), &[]).await;
    assert!(viewer.connect_answer().await.0);
    let v = viewer.create_stream().await;
    viewer.session().play(v, "bye", -2.0, -1.0, true);
    viewer.flush().await;
    viewer.wait_status("NetStream.Play.Start").await;

    assert!(gateway.terminate(), "gateway exits cleanly on SIGTERM");
    publisher.wait_status("NetStream.Unpublish.Success").await;
    viewer.wait_status("NetStream.Play.UnpublishNotify").await;
}

/// A client that stops answering is pinged and then disconnected, so a vanished peer does not
/// hold its slot; one that answers the pings stays, with nothing else to say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_are_pinged_then_disconnected() {
    // Pings every 2 s: a client has 2 s to answer, room enough on a loaded machine.
    let gateway = Gateway::start("ping_interval_secs = 2");
    let mut silent = TestClient::connect(&gateway.rtmp_url("live"), &[]).await;
    assert!(silent.connect_answer().await.0);
    let mut answering = TestClient::connect(&gateway.ws_url("live"), &[]).await;
    assert!(answering.connect_answer().await.0);
    // Only the answering client reads (and so answers pings) meanwhile.
    answering.collect_for(Duration::from_millis(7000)).await;
    assert!(!answering.is_closed(), "a client answering pings stays");
    let closed = gateway.log().matches("no answer to ping").count();
    assert_eq!(closed, 1, "the silent client alone is disconnected");
    assert!(!silent.is_open_after(Duration::from_secs(3)).await);
}

/// Data messages reach every subscriber, AMF0 and AMF3 clients alike (each in its own
/// envelope, from one encoding per envelope): NetStream.send relays live, onMetaData also in a
/// late joiner's snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_messages_reach_amf0_and_amf3_subscribers() {
    use rtmpws_protocol::Timestamp;
    let gateway = Gateway::start("");
    let mut publisher = TestClient::connect(&gateway.rtmp_url("live"), &[]).await;
    assert!(publisher.connect_answer().await.0);
    let p = publisher.create_stream().await;
    publisher.session().publish(p, "relay", "live");
    publisher.flush().await;
    publisher.wait_status("NetStream.Publish.Start").await;

    let mut subscribers = Vec::new();
    for (url, encoding) in [
        (gateway.rtmp_url("live"), 0.0),
        (gateway.ws_url("live"), 3.0),
    ] {
        let mut client =
            TestClient::connect(&url, &[("objectEncoding", Value::Number(encoding))]).await;
        assert!(client.connect_answer().await.0);
        let s = client.create_stream().await;
        client.session().play(s, "relay", -2.0, -1.0, true);
        client.flush().await;
        client.wait_status("NetStream.Play.Start").await;
        subscribers.push(client);
    }
    let metadata = Value::EcmaArray(vec![("width".into(), 320.0.into())]);
    publisher.session().send_data(
        p,
        Timestamp(0),
        vec![
            "@setDataFrame".into(),
            "onMetaData".into(),
            metadata.clone(),
        ],
    );
    publisher.session().send_data(
        p,
        Timestamp(100),
        vec!["onTextData".into(), "hello".into(), 7.0.into()],
    );
    publisher.flush().await;
    for client in &mut subscribers {
        for (handler, args) in [
            ("onMetaData", vec![metadata.clone()]),
            ("onTextData", vec!["hello".into(), 7.0.into()]),
        ] {
            let event = client
                .wait_for(handler, |e| matches!(e, ClientEvent::Data { values, .. } if values.first().and_then(Value::as_str) == Some(handler)))
                .await;
            let ClientEvent::Data { values, .. } = event else {
                unreachable!()
            };
            assert_eq!(values[1..], args[..]);
        }
    }
    let mut late = TestClient::connect(
        &gateway.ws_url("live"),
        &[("objectEncoding", Value::Number(3.0))],
    )
    .await;
    assert!(late.connect_answer().await.0);
    let s = late.create_stream().await;
    late.session().play(s, "relay", -2.0, -1.0, true);
    late.flush().await;
    let event = late
        .wait_for("onMetaData", |e| matches!(e, ClientEvent::Data { values, .. } if values.first().and_then(Value::as_str) == Some("onMetaData")))
        .await;
    assert!(matches!(event, ClientEvent::Data { values, .. } if values[1] == metadata));
}
