//! The server and client state machines talking to each other in memory: every command the
//! server understands, its replies, and the hostile inputs that crashed rml_rtmp.

use bytes::Bytes;
use rtmpws_protocol::amf::{amf0, Value};
use rtmpws_protocol::chunk::{ChunkDecoder, ChunkEncoder, DecoderLimits, MessageHeader};
use rtmpws_protocol::client::{ClientConfig, ClientEvent, ClientSession};
use rtmpws_protocol::message::{Message, UserControl};
use rtmpws_protocol::server::{PlayRequest, PublishMode, ServerConfig, ServerEvent, ServerSession};
use rtmpws_protocol::status::Status;
use rtmpws_protocol::{ChunkStreamId, MediaKind, MessageType, StreamId, Timestamp};

/// A client and a server joined by memory.
struct Pair {
    client: ClientSession,
    server: ServerSession,
    client_events: Vec<ClientEvent>,
    server_events: Vec<ServerEvent>,
    /// Every byte the client sent, for raw inspection.
    client_wire: Vec<u8>,
}

impl Pair {
    fn new(config: ServerConfig) -> Pair {
        let mut pair = Pair {
            client: ClientSession::new(ClientConfig::default()),
            server: ServerSession::new(config),
            client_events: Vec::new(),
            server_events: Vec::new(),
            client_wire: Vec::new(),
        };
        pair.run();
        assert!(pair.client.is_handshake_done());
        pair
    }

    /// Moves bytes both ways until both sides are quiet.
    fn run(&mut self) {
        for _ in 0..100 {
            let to_server = self.client.take_output();
            let mut to_client = Vec::new();
            self.server.drain_output(&mut to_client);
            let to_client: Vec<u8> = to_client.concat();
            if to_server.is_empty() && to_client.is_empty() {
                return;
            }
            self.client_wire.extend_from_slice(&to_server);
            if !to_server.is_empty() {
                self.server.handle_input(&to_server).unwrap();
                while let Some(e) = self.server.poll_event() {
                    self.server_events.push(e);
                }
            }
            if !to_client.is_empty() {
                self.client.handle_input(&to_client).unwrap();
                while let Some(e) = self.client.poll_event() {
                    self.client_events.push(e);
                }
            }
        }
        panic!("the pair never went quiet");
    }

    fn take_server_events(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.server_events)
    }

    fn take_client_events(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.client_events)
    }

    /// Handshake, connect to `app`, accept.
    fn connected(app: &str) -> Pair {
        Pair::connected_with(app, ServerConfig::default())
    }

    fn connected_with(app: &str, config: ServerConfig) -> Pair {
        let mut pair = Pair::new(config);
        pair.client.connect(
            Value::object([
                ("app", app.into()),
                ("tcUrl", format!("rtmp://h/{app}").into()),
            ]),
            vec![],
        );
        pair.run();
        assert!(matches!(
            pair.take_server_events()[..],
            [ServerEvent::ConnectRequested(_)]
        ));
        pair.server.accept_connect("7");
        pair.run();
        pair.take_client_events();
        pair
    }

    fn stream(&mut self) -> StreamId {
        self.client.create_stream();
        self.run();
        match self.take_client_events()[..] {
            [ClientEvent::StreamCreated { stream_id, .. }] => stream_id,
            ref other => panic!("{other:?}"),
        }
    }

    fn command(
        &mut self,
        stream: StreamId,
        name: &str,
        args: Vec<Value>,
    ) -> (Vec<ServerEvent>, Vec<ClientEvent>) {
        self.client.stream_command(stream, name, args);
        self.run();
        (self.take_server_events(), self.take_client_events())
    }
}

fn status_codes(events: &[ClientEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Status { info, .. } => info.get_str("code").map(str::to_owned),
            _ => None,
        })
        .collect()
}

#[test]
fn connect_request_carries_app_instance_query_and_encoding() {
    let mut pair = Pair::new(ServerConfig::default());
    let props = Value::object([
        ("app", "live/room1?token=abc".into()),
        ("tcUrl", "rtmp://host/live/room1?token=abc".into()),
        ("objectEncoding", 3.0.into()),
    ]);
    pair.client.connect(props, vec!["extra".into()]);
    pair.run();
    let events = pair.take_server_events();
    let [ServerEvent::ConnectRequested(request)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(request.app, "live");
    assert_eq!(request.instance.as_deref(), Some("room1"));
    assert_eq!(request.query.as_deref(), Some("token=abc"));
    assert_eq!(request.tc_url, "rtmp://host/live/room1?token=abc");
    assert_eq!(request.object_encoding, 3.0);
    assert_eq!(request.args, vec![Value::from("extra")]);

    pair.server.accept_connect("42");
    pair.run();
    let events = pair.take_client_events();
    // StreamBegin(0) before the _result, as FMS sends it.
    assert_eq!(
        events[0],
        ClientEvent::UserControl(UserControl::StreamBegin(StreamId(0)))
    );
    let ClientEvent::Connected { properties, info } = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(properties.get_str("fmsVer"), Some("FMS/3,5,7,7009"));
    assert_eq!(properties.get_f64("capabilities"), Some(31.0));
    assert_eq!(properties.get_f64("mode"), Some(1.0));
    let Value::Object(fields) = info else {
        panic!()
    };
    let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(&keys[..3], ["level", "code", "description"]);
    assert_eq!(info.get_str("code"), Some("NetConnection.Connect.Success"));
    assert_eq!(info.get_f64("objectEncoding"), Some(3.0));
    assert_eq!(info.get_str("clientid"), Some("42"));
    assert_eq!(
        info.get("data").and_then(|d| d.get_str("version")),
        Some("3,5,7,7009")
    );
}

#[test]
fn rejected_connect_answers_error_and_closes() {
    let mut pair = Pair::new(ServerConfig::default());
    pair.client
        .connect(Value::object([("app", "nope".into())]), vec![]);
    pair.run();
    pair.server.reject_connect("no such app");
    pair.run();
    let events = pair.take_client_events();
    let [ClientEvent::ConnectRejected { info }] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(info.get_str("code"), Some("NetConnection.Connect.Rejected"));
    assert_eq!(info.get_str("level"), Some("error"));
    assert!(pair.server.is_closing());
}

#[test]
fn commands_before_connect_are_ignored() {
    let mut pair = Pair::new(ServerConfig::default());
    pair.client.create_stream();
    pair.run();
    assert!(matches!(
        pair.take_server_events()[..],
        [ServerEvent::Ignored { .. }]
    ));
    assert!(pair.take_client_events().is_empty());
}

#[test]
fn play_parses_flash_defaults_and_old_numeric_reset() {
    let mut pair = Pair::connected("live");
    let s = pair.stream();
    let (events, _) = pair.command(s, "play", vec!["cam".into()]);
    let expected = PlayRequest {
        name: "cam".into(),
        start: -2.0,
        len: -1.0,
        reset: true,
    };
    assert_eq!(
        events,
        [ServerEvent::PlayRequested {
            stream_id: s,
            request: expected
        }]
    );
    let (events, _) = pair.command(
        s,
        "play",
        vec!["b".into(), 5.0.into(), 10.0.into(), 0.0.into()],
    );
    let expected = PlayRequest {
        name: "b".into(),
        start: 5.0,
        len: 10.0,
        reset: false,
    };
    assert_eq!(
        events,
        [ServerEvent::PlayRequested {
            stream_id: s,
            request: expected
        }]
    );
    // play(false) stops.
    let (events, _) = pair.command(s, "play", vec![false.into()]);
    assert_eq!(events, [ServerEvent::StreamClosed { stream_id: s }]);
}

#[test]
fn malformed_stream_commands_get_invalid_arg_on_the_stream() {
    let mut pair = Pair::connected("live");
    let s = pair.stream();
    for (name, args) in [
        ("seek", vec![Value::from("asdasdas")]),
        ("seek", vec![Value::Number(-5.0)]),
        ("play", vec![Value::Number(3.0)]),
        ("play", vec!["cam".into(), "soon".into()]),
        ("pause", vec!["yes".into()]),
        ("play2", vec!["not an object".into()]),
        ("receiveVideo", vec![1.0.into()]),
    ] {
        let (server_events, client_events) = pair.command(s, name, args);
        assert!(server_events.is_empty(), "{name}: {server_events:?}");
        let [ClientEvent::Status { stream_id, info }] = &client_events[..] else {
            panic!("{name}: {client_events:?}")
        };
        assert_eq!(*stream_id, s);
        assert_eq!(
            info.get_str("code"),
            Some(Status::NetStreamInvalidArg.code()),
            "{name}"
        );
        assert_eq!(info.get_str("level"), Some("error"));
    }
}

#[test]
fn later_issue_commands_reach_the_state_machine() {
    let mut pair = Pair::connected("live");
    let s = pair.stream();
    let (events, _) = pair.command(s, "pause", vec![true.into(), 1500.0.into()]);
    assert_eq!(
        events,
        [ServerEvent::PauseRequested {
            stream_id: s,
            pause: true,
            position_ms: 1500.0
        }]
    );
    let (events, _) = pair.command(s, "seek", vec![2000.0.into()]);
    assert_eq!(
        events,
        [ServerEvent::SeekRequested {
            stream_id: s,
            position_ms: 2000.0
        }]
    );
    let options = Value::object([("streamName", "b".into()), ("transition", "switch".into())]);
    let (events, _) = pair.command(s, "play2", vec![options.clone()]);
    assert_eq!(
        events,
        [ServerEvent::Play2Requested {
            stream_id: s,
            options
        }]
    );
    let (events, _) = pair.command(s, "receiveAudio", vec![false.into()]);
    assert_eq!(
        events,
        [ServerEvent::ReceiveAudio {
            stream_id: s,
            enabled: false
        }]
    );
    let (events, _) = pair.command(s, "receiveVideo", vec![true.into()]);
    assert_eq!(
        events,
        [ServerEvent::ReceiveVideo {
            stream_id: s,
            enabled: true
        }]
    );
}

#[test]
fn publish_modes_and_stream_closing_in_all_its_forms() {
    let mut pair = Pair::connected("live");
    let s = pair.stream();
    for (mode, expected) in [
        ("live", PublishMode::Live),
        ("record", PublishMode::Record),
        ("append", PublishMode::Append),
        ("appendWithGap", PublishMode::AppendWithGap),
    ] {
        let (events, _) = pair.command(s, "publish", vec!["cam".into(), mode.into()]);
        assert_eq!(
            events,
            [ServerEvent::PublishRequested {
                stream_id: s,
                name: "cam".into(),
                mode: expected
            }]
        );
    }
    // closeStream as Flash sends it: on the stream, no arguments.
    let (events, _) = pair.command(s, "closeStream", vec![]);
    assert_eq!(events, [ServerEvent::StreamClosed { stream_id: s }]);
    // closeStream on stream 0 with the id as argument.
    let (events, _) = pair.command(StreamId(0), "closeStream", vec![f64::from(s.0).into()]);
    assert_eq!(events, [ServerEvent::StreamClosed { stream_id: s }]);
    // deleteStream forgets the stream: later commands on it are ignored.
    pair.client.delete_stream(s);
    pair.run();
    assert_eq!(
        pair.take_server_events(),
        [ServerEvent::StreamClosed { stream_id: s }]
    );
    let (events, _) = pair.command(s, "play", vec!["cam".into()]);
    assert!(matches!(events[..], [ServerEvent::Ignored { .. }]));
    // A new stream gets a new id.
    assert!(pair.stream().0 > s.0);
}

/// `event` is the server calling `handler` with an info object of `code` and `description`.
fn assert_server_call(event: &ClientEvent, handler: &str, code: &str, description: &str) {
    let ClientEvent::ServerCall { name, args, .. } = event else {
        panic!("not a server call: {event:?}")
    };
    assert_eq!(name, handler);
    assert_eq!(args[0].get_str("code"), Some(code));
    assert_eq!(args[0].get_str("description"), Some(description));
}

#[test]
fn fmle_calls_are_answered_and_unknown_calls_go_to_the_application() {
    let mut pair = Pair::connected("live");
    let release = pair.client.call("releaseStream", vec!["cam".into()]);
    let fc = pair.client.call("FCPublish", vec!["cam".into()]);
    let unknown = pair.client.call("nope", vec![Value::Number(1.0)]);
    let subscribe = pair.client.call("FCSubscribe", vec!["cam".into()]);
    let length = pair.client.call("getStreamLength", vec!["clip".into()]);
    pair.run();
    let server_events = pair.take_server_events();
    assert!(
        server_events.contains(&ServerEvent::StreamLengthRequested {
            transaction_id: length,
            name: "clip".into()
        }),
        "{server_events:?}"
    );
    assert!(
        server_events.contains(&ServerEvent::Call {
            transaction_id: unknown,
            method: "nope".into(),
            command_object: Value::Null,
            args: vec![Value::Number(1.0)],
        }),
        "{server_events:?}"
    );
    pair.server.fail_call(unknown, "no such method");
    pair.server.answer_stream_length(length, 3.5);
    pair.run();
    let events = pair.take_client_events();
    assert!(
        matches!(&events[0], ClientEvent::CallResult { transaction_id, .. } if *transaction_id == release)
    );
    assert_server_call(&events[1], "onFCPublish", "NetStream.Publish.Start", "cam");
    assert!(
        matches!(&events[2], ClientEvent::CallResult { transaction_id, .. } if *transaction_id == fc)
    );
    assert_server_call(&events[3], "onFCSubscribe", "NetStream.Play.Start", "cam");
    assert!(
        matches!(&events[4], ClientEvent::CallResult { transaction_id, .. } if *transaction_id == subscribe)
    );
    let ClientEvent::CallError {
        transaction_id,
        args,
        ..
    } = &events[5]
    else {
        panic!("{events:?}")
    };
    assert_eq!(*transaction_id, unknown);
    assert_eq!(args[0].get_str("code"), Some("NetConnection.Call.Failed"));
    let ClientEvent::CallResult {
        transaction_id,
        args,
        ..
    } = &events[6]
    else {
        panic!("{events:?}")
    };
    assert_eq!(*transaction_id, length);
    assert_eq!(args, &[Value::Number(3.5)]);
}

#[test]
fn server_sequences_put_statuses_on_the_stream_in_fms_order() {
    let mut pair = Pair::connected("live");
    let s = pair.stream();
    pair.server.begin_play(s, "cam", true, true);
    pair.server.send_play_status(
        s,
        Timestamp(9000),
        Status::NetStreamPlayComplete
            .info("cam")
            .field("duration", 9.0)
            .field("bytes", 1234.0),
    );
    pair.run();
    let events = pair.take_client_events();
    assert_eq!(
        events[0],
        ClientEvent::UserControl(UserControl::StreamIsRecorded(s))
    );
    assert_eq!(
        events[1],
        ClientEvent::UserControl(UserControl::StreamBegin(s))
    );
    assert_eq!(
        status_codes(&events[2..4]),
        ["NetStream.Play.Reset", "NetStream.Play.Start"]
    );
    assert!(events[2..4]
        .iter()
        .all(|e| matches!(e, ClientEvent::Status { stream_id, .. } if *stream_id == s)));
    let ClientEvent::Data { values, .. } = &events[4] else {
        panic!()
    };
    assert_eq!(
        values[..],
        [Value::from("|RtmpSampleAccess"), true.into(), true.into()]
    );
    let ClientEvent::Data { values, .. } = &events[5] else {
        panic!()
    };
    assert_eq!(values[1].get_str("code"), Some("NetStream.Data.Start"));
    let ClientEvent::PlayStatus {
        info, timestamp, ..
    } = &events[6]
    else {
        panic!()
    };
    assert_eq!(info.get_str("code"), Some("NetStream.Play.Complete"));
    assert_eq!(info.get_f64("duration"), Some(9.0));
    assert_eq!(*timestamp, Timestamp(9000));
}

#[test]
fn publisher_media_and_metadata_reach_the_server_without_set_data_frame() {
    let mut pair = Pair::connected("live");
    let s = pair.stream();
    pair.command(s, "publish", vec!["cam".into()]);
    let meta = vec![
        "@setDataFrame".into(),
        "onMetaData".into(),
        Value::EcmaArray(vec![("width".into(), 640.0.into())]),
    ];
    pair.client.send_data(s, Timestamp(0), meta);
    pair.client.send_media(
        s,
        Timestamp(40),
        MediaKind::Video,
        Bytes::from_static(&[0x17, 1, 0, 0, 0]),
    );
    pair.client.send_media(
        s,
        Timestamp(41),
        MediaKind::Audio,
        Bytes::from_static(&[0xAF, 1, 7]),
    );
    // The rml_rtmp crashes: a bare @setDataFrame, and @setDataFrame with a name but no value.
    pair.client
        .send_data(s, Timestamp(0), vec!["@setDataFrame".into()]);
    pair.client.send_data(
        s,
        Timestamp(0),
        vec!["@setDataFrame".into(), "onMetaData".into()],
    );
    pair.run();
    let events = pair.take_server_events();
    assert!(
        matches!(&events[0], ServerEvent::Data { values, .. } if values[0] == Value::from("onMetaData") && values[1].get_f64("width") == Some(640.0))
    );
    assert!(matches!(
        &events[1],
        ServerEvent::Media {
            kind: MediaKind::Video,
            timestamp: Timestamp(40),
            ..
        }
    ));
    assert!(matches!(
        &events[2],
        ServerEvent::Media {
            kind: MediaKind::Audio,
            timestamp: Timestamp(41),
            ..
        }
    ));
    assert!(matches!(&events[3], ServerEvent::Ignored { .. }));
    assert!(matches!(&events[4], ServerEvent::Data { values, .. } if values.len() == 1));
}

#[test]
fn acknowledgements_carry_the_cumulative_byte_count() {
    let config = ServerConfig {
        window_ack_size: 1000,
        ..ServerConfig::default()
    };
    let mut pair = Pair::new(config);
    pair.client
        .connect(Value::object([("app", "live".into())]), vec![]);
    pair.run();
    pair.server.accept_connect("1");
    pair.run();
    pair.take_client_events();
    let s = pair.stream();
    for i in 0..10 {
        pair.server.send_data(
            s,
            Timestamp(i),
            vec!["onTextData".into(), "x".repeat(700).into()],
        );
        let mut out = Vec::new();
        pair.server.drain_output(&mut out);
        pair.client.handle_input(&out.concat()).unwrap();
    }
    pair.client_wire.extend(pair.client.take_output());
    let mut decoder = ChunkDecoder::new(DecoderLimits::default());
    // Skip C0+C1 and C2.
    decoder.push(&pair.client_wire[1 + 1536 + 1536..]);
    let mut acks = Vec::new();
    while let Some(message) = decoder.next_message().unwrap() {
        if message.header.type_id == MessageType::ACKNOWLEDGEMENT {
            acks.push(u32::from_be_bytes(message.payload[..4].try_into().unwrap()));
        }
    }
    assert!(acks.len() >= 5, "{acks:?}");
    assert!(
        acks.windows(2).all(|w| w[1] > w[0] && w[1] - w[0] >= 1000),
        "cumulative, one per window: {acks:?}"
    );
}

/// Bytes of one command message on chunk stream 3, as a hostile client would send them.
fn raw_command(values: &[Value], chunk_size: u32) -> Vec<u8> {
    let mut payload = Vec::new();
    amf0::encode_all(values, &mut payload);
    let mut encoder = ChunkEncoder::new();
    encoder.set_chunk_size(chunk_size);
    let mut out = bytes::BytesMut::new();
    let header = MessageHeader {
        csid: ChunkStreamId::COMMAND,
        timestamp: Timestamp(0),
        type_id: MessageType::COMMAND_AMF0,
        stream_id: StreamId(0),
    };
    encoder.encode(&header, &payload, &mut out).unwrap();
    out.to_vec()
}

fn handshaken_server() -> ServerSession {
    let mut pair = Pair::new(ServerConfig::default());
    let mut out = Vec::new();
    pair.server.drain_output(&mut out);
    pair.server
}

#[test]
fn hostile_inputs_are_errors_not_panics() {
    // A command with one value (rml_rtmp panicked on fewer than three).
    let mut server = handshaken_server();
    server
        .handle_input(&raw_command(&["connect".into()], 4096))
        .unwrap();
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::ConnectRequested(_))
    ));

    // 10 000 nested objects in a connect: an error for this connection, no stack overflow.
    let mut server = handshaken_server();
    let mut payload = Vec::new();
    amf0::encode(&"connect".into(), &mut payload);
    amf0::encode(&1.0.into(), &mut payload);
    for _ in 0..10_000 {
        payload.extend_from_slice(&[0x03, 0x00, 0x01, b'a']);
    }
    // The test client announced a chunk size of 4096 after its handshake.
    let mut encoder = ChunkEncoder::new();
    encoder.set_chunk_size(4096);
    let mut out = bytes::BytesMut::new();
    let header = MessageHeader {
        csid: ChunkStreamId::COMMAND,
        timestamp: Timestamp(0),
        type_id: MessageType::COMMAND_AMF0,
        stream_id: StreamId(0),
    };
    encoder.encode(&header, &payload, &mut out).unwrap();
    assert!(server.handle_input(&out).is_err());

    // Set Chunk Size 0 and 2^31-1.
    for size in [0u32, 0x7FFF_FFFF] {
        let mut server = handshaken_server();
        let mut out = bytes::BytesMut::new();
        let header = MessageHeader {
            csid: ChunkStreamId::CONTROL,
            timestamp: Timestamp(0),
            type_id: MessageType::SET_CHUNK_SIZE,
            stream_id: StreamId(0),
        };
        ChunkEncoder::new()
            .encode(&header, &size.to_be_bytes(), &mut out)
            .unwrap();
        assert!(server.handle_input(&out).is_err(), "chunk size {size}");
    }

    // A 16 MB message announced in a 12-byte header: refused, nothing reserved.
    let mut server = handshaken_server();
    let header = [0x03, 0, 0, 0, 0xFF, 0xFF, 0xF0, 20, 0, 0, 0, 0];
    assert!(server.handle_input(&header).is_err());

    // Random garbage after the handshake, in random splits: never a panic.
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..300 {
        let mut server = handshaken_server();
        let mut bytes = raw_command(
            &[
                "connect".into(),
                1.0.into(),
                Value::object([("app", "live".into())]),
            ],
            4096,
        );
        let len = (next() % 400) as usize;
        bytes.extend((0..len).map(|_| next() as u8));
        for _ in 0..(next() % 8) {
            let i = (next() as usize) % bytes.len();
            bytes[i] = next() as u8;
        }
        for part in bytes.chunks(1 + (next() % 50) as usize) {
            if server.handle_input(part).is_err() {
                break;
            }
            while server.poll_event().is_some() {}
        }
    }
}

#[test]
fn media_chunked_once_reaches_every_connection_with_its_own_stream_id() {
    let mut a = Pair::connected("live");
    let mut b = Pair::connected("live");
    let sa = a.stream();
    let _ = b.stream();
    let sb = b.stream();
    assert_ne!(sa, sb);
    let payload = vec![0x27u8; 10_000];
    let shared = rtmpws_protocol::chunk::SharedChunks::new(
        ChunkStreamId::VIDEO,
        Timestamp(1234),
        MessageType::VIDEO,
        &payload,
        a.server.chunk_size(),
    );
    for (pair, stream) in [(&mut a, sa), (&mut b, sb)] {
        pair.server.send_media(stream, &shared).unwrap();
        pair.server.send_message(
            stream,
            Timestamp(1250),
            &Message::Video(Bytes::from_static(&[0x27, 1])),
        );
        pair.run();
        let events = pair.take_client_events();
        assert!(
            matches!(&events[0], ClientEvent::Media { stream_id, timestamp: Timestamp(1234), payload: p, .. } if *stream_id == stream && p.len() == 10_000)
        );
        assert!(
            matches!(&events[1], ClientEvent::Media { stream_id, timestamp: Timestamp(1250), .. } if *stream_id == stream)
        );
    }
}

#[test]
fn create_stream_past_max_streams_fails_and_the_connection_goes_on() {
    let config = ServerConfig {
        max_streams: 3,
        ..ServerConfig::default()
    };
    let mut pair = Pair::connected_with("live", config);
    let streams: Vec<StreamId> = (0..3).map(|_| pair.stream()).collect();
    assert_eq!(streams, [StreamId(1), StreamId(2), StreamId(3)]);
    let transaction = pair.client.create_stream();
    pair.run();
    match &pair.take_client_events()[..] {
        [ClientEvent::CallError {
            transaction_id,
            args,
            ..
        }] => {
            assert_eq!(*transaction_id, transaction);
            assert_eq!(args[0].get_str("code"), Some("NetConnection.Call.Failed"));
            assert!(args[0]
                .get_str("description")
                .is_some_and(|d| d.contains("already has 3 streams")));
        }
        other => panic!("{other:?}"),
    }
    assert!(!pair.server.is_closing());
    // Deleting one gives its place back; ids are not reused.
    pair.client.delete_stream(StreamId(2));
    pair.run();
    assert!(matches!(
        pair.take_server_events()[..],
        [ServerEvent::StreamClosed {
            stream_id: StreamId(2)
        }]
    ));
    assert_eq!(pair.stream(), StreamId(4));
}

#[test]
fn over_long_stream_names_are_refused_where_they_arrive() {
    let config = ServerConfig {
        max_stream_name_bytes: 16,
        ..ServerConfig::default()
    };
    let mut pair = Pair::connected_with("live", config);
    let s = pair.stream();
    let long = "n".repeat(17);
    let fits = "n".repeat(16);
    let only_ignored = |events: &[ServerEvent]| {
        events
            .iter()
            .all(|e| matches!(e, ServerEvent::Ignored { .. }))
    };
    let description = |events: &[ClientEvent]| match events {
        [ClientEvent::Status { info, stream_id }] if *stream_id == s => {
            info.get_str("description").unwrap_or_default().to_owned()
        }
        other => panic!("{other:?}"),
    };

    let (server, client) = pair.command(s, "publish", vec![long.as_str().into(), "live".into()]);
    assert!(only_ignored(&server), "{server:?}");
    assert_eq!(status_codes(&client), ["NetStream.Publish.BadName"]);
    assert_eq!(
        description(&client),
        "publish: the stream name is 17 bytes long; at most 16 are allowed"
    );
    let (server, _) = pair.command(s, "publish", vec![fits.as_str().into(), "live".into()]);
    assert!(matches!(&server[..], [ServerEvent::PublishRequested { name, .. }] if *name == fits));

    let (server, client) = pair.command(s, "play", vec![long.as_str().into()]);
    assert!(only_ignored(&server), "{server:?}");
    assert_eq!(status_codes(&client), ["NetStream.Play.StreamNotFound"]);
    assert!(
        !description(&client).contains(&long),
        "the name is not echoed"
    );
    let (server, _) = pair.command(s, "play", vec![fits.as_str().into()]);
    assert!(matches!(&server[..], [ServerEvent::PlayRequested { .. }]));

    for (name, old_name) in [(&long, &fits), (&fits, &long)] {
        let options = Value::object([
            ("streamName", name.as_str().into()),
            ("oldStreamName", old_name.as_str().into()),
        ]);
        let (server, client) = pair.command(s, "play2", vec![options]);
        assert!(only_ignored(&server), "{server:?}");
        assert_eq!(status_codes(&client), ["NetStream.Play.StreamNotFound"]);
    }

    for call in [
        "getStreamLength",
        "releaseStream",
        "FCPublish",
        "FCUnpublish",
        "FCSubscribe",
        "FCUnsubscribe",
    ] {
        let transaction = pair.client.call(call, vec![long.as_str().into()]);
        pair.run();
        assert!(only_ignored(&pair.take_server_events()), "{call}");
        match &pair.take_client_events()[..] {
            [ClientEvent::CallError {
                transaction_id,
                args,
                ..
            }] => {
                assert_eq!(*transaction_id, transaction, "{call}");
                assert_eq!(args[0].get_str("code"), Some("NetConnection.Call.Failed"));
                assert!(args[0]
                    .get_str("description")
                    .is_some_and(|d| d.starts_with(call) && d.contains("17 bytes")));
            }
            other => panic!("{call}: {other:?}"),
        }
        pair.client.call(call, vec![fits.as_str().into()]);
        pair.run();
        pair.take_server_events();
        assert!(!pair
            .take_client_events()
            .iter()
            .any(|e| matches!(e, ClientEvent::CallError { .. })));
    }
    assert!(!pair.server.is_closing());
}

#[test]
fn output_past_its_budget_stops_the_session() {
    let config = ServerConfig {
        max_queued_output_bytes: 8192,
        ..ServerConfig::default()
    };
    // Many calls at once that the session answers itself: reading stops past the budget.
    let mut pair = Pair::connected_with("live", config.clone());
    for _ in 0..200 {
        pair.client.call("FCPublish", vec!["cam".into()]);
    }
    let input = pair.client.take_output();
    match pair.server.handle_input(&input) {
        Err(rtmpws_protocol::LinkError::OutputTooLarge { queued, max: 8192 }) => {
            assert!(queued > 8192 && queued < 8192 + 1024, "{queued}")
        }
        other => panic!("{other:?}"),
    }

    // Output the application queued while handling events: no more events, and closed.
    let mut pair = Pair::connected_with("live", config);
    let s = pair.stream();
    pair.client.play(s, "a", -2.0, -1.0, true);
    pair.client.play(s, "b", -2.0, -1.0, true);
    let input = pair.client.take_output();
    pair.server.handle_input(&input).unwrap();
    assert!(matches!(
        pair.server.poll_event(),
        Some(ServerEvent::PlayRequested { .. })
    ));
    pair.server.send_data(
        s,
        Timestamp::ZERO,
        vec!["onMetaData".into(), "x".repeat(9000).into()],
    );
    assert_eq!(
        pair.server.poll_event(),
        None,
        "the second play is not handed out"
    );
    assert!(pair.server.is_closing());
    assert!(pair
        .server
        .close_reason()
        .is_some_and(|why| why.contains("over the 8192-byte limit")));
}

/// A connected pair whose client asked for `object_encoding`.
fn connected_with_encoding(object_encoding: f64) -> Pair {
    let mut pair = Pair::new(ServerConfig::default());
    pair.client.connect(
        Value::object([
            ("app", "live".into()),
            ("objectEncoding", object_encoding.into()),
        ]),
        vec![],
    );
    pair.run();
    pair.take_server_events();
    pair.server.accept_connect("1");
    pair.run();
    pair.take_client_events();
    pair
}

#[test]
fn shared_data_goes_out_as_send_data_would_in_each_envelope() {
    use rtmpws_protocol::server::SharedData;
    use std::sync::Arc;
    let values = vec![
        "onMetaData".into(),
        Value::EcmaArray(vec![("width".into(), 320.0.into())]),
    ];
    let shared = SharedData::new(
        Timestamp(40),
        Arc::new(values.clone()),
        ServerConfig::default().chunk_size,
    );
    // Decodes what a server queued, from a fresh chunk decoder at the server's chunk size.
    let decode = |segments: &[Bytes]| {
        let mut decoder = ChunkDecoder::new(DecoderLimits::default());
        let mut set_chunk_size = vec![2, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0];
        set_chunk_size.extend_from_slice(&4096u32.to_be_bytes());
        decoder.push(&set_chunk_size);
        decoder.push(&segments.concat());
        let mut messages = Vec::new();
        while let Some(message) = decoder.next_message().unwrap() {
            messages.push(message);
        }
        messages.remove(0);
        messages
    };
    let mut shared_segments = Vec::new();
    for (encoding, type_id) in [(0.0, MessageType::DATA_AMF0), (3.0, MessageType::DATA_AMF3)] {
        for _ in 0..2 {
            let mut plain = connected_with_encoding(encoding);
            let mut sharing = connected_with_encoding(encoding);
            let s = plain.stream();
            assert_eq!(sharing.stream(), s);
            plain.server.send_data(s, Timestamp(40), values.clone());
            sharing.server.send_shared_data(s, &shared).unwrap();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            plain.server.drain_output(&mut a);
            sharing.server.drain_output(&mut b);
            let (a_messages, b_messages) = (decode(&a), decode(&b));
            assert_eq!(a_messages, b_messages, "objectEncoding {encoding}");
            assert_eq!(b_messages[0].header.type_id, type_id);
            sharing.client.handle_input(&b.concat()).unwrap();
            assert!(matches!(
                sharing.client.poll_event(),
                Some(ClientEvent::Data { values: got, .. }) if got == values
            ));
            shared_segments.push(b.last().unwrap().clone());
        }
    }
    // Each envelope was encoded once, and its bytes are shared by the connections using it.
    let ptr = |i: usize| shared_segments[i].as_ptr();
    assert_eq!(ptr(0), ptr(1));
    assert_eq!(ptr(2), ptr(3));
    assert_ne!(ptr(0), ptr(2));
}

mod shared_objects {
    use super::*;
    use rtmpws_protocol::client::{SharedObjectEvent, SyncChange, SyncCode};
    use rtmpws_protocol::server::SharedObjectRequest;
    use rtmpws_protocol::shared_object::{SharedObjectMessage, SoEncoding, SoEvent};

    fn connected(object_encoding: f64) -> Pair {
        let mut pair = Pair::new(ServerConfig::default());
        pair.client.connect(
            Value::object([
                ("app", "live".into()),
                ("tcUrl", "rtmp://h/live".into()),
                ("objectEncoding", Value::Number(object_encoding)),
            ]),
            vec![],
        );
        pair.run();
        pair.take_server_events();
        pair.server.accept_connect("7");
        pair.run();
        pair.take_client_events();
        pair
    }

    fn change(code: SyncCode, name: &str, old_value: Option<Value>) -> SyncChange {
        SyncChange {
            code,
            name: name.into(),
            old_value,
        }
    }

    /// One client's life with an object: use, the initial sync, a change accepted, one
    /// rejected, another client's change and delete, a message, a status, release.
    fn a_client_uses_changes_and_releases_an_object(object_encoding: f64) {
        let mut pair = connected(object_encoding);
        pair.client.shared_object_use("chat", false);
        pair.run();
        assert_eq!(
            pair.take_server_events(),
            [ServerEvent::SharedObject {
                name: "chat".into(),
                version: 0,
                persistent: false,
                requests: vec![SharedObjectRequest::Use],
            }]
        );
        let expected_type = if object_encoding == 3.0 {
            SoEncoding::Amf3
        } else {
            SoEncoding::Amf0
        };
        assert_eq!(pair.server.shared_object_encoding(), expected_type);
        let initial = SharedObjectMessage::new("chat", 4, false)
            .with(SoEvent::UseSuccess)
            .with(SoEvent::Clear)
            .with(SoEvent::Change {
                slot: "topic".into(),
                value: "rust".into(),
            });
        pair.server.send_shared_object(&initial);
        pair.run();
        assert_eq!(
            pair.take_client_events(),
            [ClientEvent::SharedObject {
                name: "chat".into(),
                event: SharedObjectEvent::Sync {
                    version: 4,
                    first: true,
                    changes: vec![
                        change(SyncCode::Clear, "", None),
                        change(SyncCode::Change, "topic", None)
                    ],
                }
            }]
        );
        let copy = pair.client.shared_object("chat").unwrap();
        assert!(copy.is_connected());
        assert_eq!(copy.version(), 4);
        assert_eq!(copy.get("topic"), Some(&Value::from("rust")));

        // A change: the local copy changes at once, the server hears the client's version.
        assert!(pair
            .client
            .shared_object_request_change("chat", "n", Value::Number(1.0)));
        assert_eq!(
            pair.client.shared_object("chat").unwrap().get("n"),
            Some(&Value::Number(1.0))
        );
        pair.run();
        assert_eq!(
            pair.take_server_events(),
            [ServerEvent::SharedObject {
                name: "chat".into(),
                version: 4,
                persistent: false,
                requests: vec![SharedObjectRequest::Change {
                    slot: "n".into(),
                    value: Value::Number(1.0)
                }],
            }]
        );
        // Accepted, as version 5; then a second change loses to another client's.
        pair.server.send_shared_object(
            &SharedObjectMessage::new("chat", 5, false).with(SoEvent::Success { slot: "n".into() }),
        );
        pair.client
            .shared_object_request_change("chat", "n", Value::Number(2.0));
        pair.run();
        pair.take_server_events();
        pair.server.send_shared_object(
            &SharedObjectMessage::new("chat", 6, false)
                .with(SoEvent::Change {
                    slot: "n".into(),
                    value: Value::Number(9.0),
                })
                .with(SoEvent::Change {
                    slot: "topic".into(),
                    value: "wasm".into(),
                })
                .with(SoEvent::Remove {
                    slot: "topic".into(),
                }),
        );
        pair.server.send_shared_object(
            &SharedObjectMessage::new("chat", 6, false)
                .with(SoEvent::SendMessage {
                    handler: "onChat".into(),
                    args: vec!["hi".into()],
                })
                .with(SoEvent::Status {
                    code: "SharedObject.NoWriteAccess".into(),
                    level: "error".into(),
                }),
        );
        pair.run();
        let sync = |version, changes| ClientEvent::SharedObject {
            name: "chat".into(),
            event: SharedObjectEvent::Sync {
                version,
                first: false,
                changes,
            },
        };
        assert_eq!(
            pair.take_client_events(),
            [
                sync(5, vec![change(SyncCode::Success, "n", None)]),
                sync(
                    6,
                    vec![
                        change(SyncCode::Reject, "n", Some(Value::Number(2.0))),
                        change(SyncCode::Change, "topic", Some("rust".into())),
                        change(SyncCode::Delete, "topic", Some("wasm".into())),
                    ]
                ),
                ClientEvent::SharedObject {
                    name: "chat".into(),
                    event: SharedObjectEvent::Message {
                        handler: "onChat".into(),
                        args: vec!["hi".into()]
                    }
                },
                ClientEvent::SharedObject {
                    name: "chat".into(),
                    event: SharedObjectEvent::Status {
                        code: "SharedObject.NoWriteAccess".into(),
                        level: "error".into()
                    }
                },
            ]
        );
        let copy = pair.client.shared_object("chat").unwrap();
        assert_eq!(copy.data(), &[("n".to_owned(), Value::Number(9.0))]);

        // Delete, send, release.
        assert!(pair.client.shared_object_request_remove("chat", "n"));
        assert!(pair
            .client
            .shared_object_send("chat", "onChat", vec![Value::Number(3.0)]));
        assert!(pair.client.shared_object_release("chat"));
        assert!(!pair.client.shared_object_release("chat"));
        assert!(!pair
            .client
            .shared_object_request_change("chat", "n", Value::Null));
        pair.run();
        let requests: Vec<SharedObjectRequest> = pair
            .take_server_events()
            .into_iter()
            .flat_map(|e| match e {
                ServerEvent::SharedObject {
                    version: 6,
                    requests,
                    ..
                } => requests,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            requests,
            [
                SharedObjectRequest::Remove { slot: "n".into() },
                SharedObjectRequest::Send {
                    handler: "onChat".into(),
                    args: vec![Value::Number(3.0)]
                },
                SharedObjectRequest::Release,
            ]
        );
        // Events for an object no longer in use are dropped.
        pair.server
            .send_shared_object(&SharedObjectMessage::new("chat", 7, false).with(SoEvent::Clear));
        pair.run();
        assert!(pair.take_client_events().is_empty());
    }

    #[test]
    fn amf0_clients_use_type_19() {
        a_client_uses_changes_and_releases_an_object(0.0);
    }

    #[test]
    fn amf3_clients_use_type_16() {
        a_client_uses_changes_and_releases_an_object(3.0);
    }

    #[test]
    fn server_events_sent_by_a_client_and_objects_before_connect_are_ignored() {
        let mut pair = Pair::new(ServerConfig::default());
        pair.client.shared_object_use("o", false);
        pair.run();
        let events = pair.take_server_events();
        assert!(
            matches!(&events[..], [ServerEvent::Ignored { .. }]),
            "{events:?}"
        );
        let mut pair = connected(0.0);
        pair.client.shared_object_use("o", false);
        pair.client.send_data(StreamId(0), Timestamp::ZERO, vec![]);
        pair.run();
        pair.take_server_events();
        // A message of server-to-client events only.
        let mut encoder = ChunkEncoder::new();
        let payload = SharedObjectMessage::new("o", 1, false)
            .with(SoEvent::Clear)
            .with(SoEvent::UseSuccess)
            .encode(SoEncoding::Amf0);
        let mut bytes = bytes::BytesMut::new();
        encoder
            .encode(
                &MessageHeader {
                    csid: ChunkStreamId::COMMAND,
                    timestamp: Timestamp::ZERO,
                    type_id: MessageType::SHARED_OBJECT_AMF0,
                    stream_id: StreamId(0),
                },
                &payload,
                &mut bytes,
            )
            .unwrap();
        // The client set its chunk size to 4096 after the handshake; this one message is
        // smaller than 128 bytes anyway.
        pair.server.handle_input(&bytes).unwrap();
        let mut events = Vec::new();
        while let Some(e) = pair.server.poll_event() {
            events.push(e);
        }
        assert!(
            matches!(&events[..], [ServerEvent::Ignored { .. }]),
            "{events:?}"
        );
    }

    #[test]
    fn one_change_chunked_once_reaches_several_connections() {
        let mut a = connected(0.0);
        let mut b = connected(0.0);
        for pair in [&mut a, &mut b] {
            pair.client.shared_object_use("o", false);
            pair.run();
            pair.take_server_events();
        }
        let message = SharedObjectMessage::new("o", 2, false).with(SoEvent::Change {
            slot: "k".into(),
            value: Value::from("x".repeat(9000)),
        });
        let shared = message.shared_chunks(SoEncoding::Amf0, a.server.chunk_size());
        for pair in [&mut a, &mut b] {
            pair.server.send_shared_chunks(&shared).unwrap();
            pair.run();
            let events = pair.take_client_events();
            assert!(
                matches!(
                    &events[..],
                    [ClientEvent::SharedObject {
                        event: SharedObjectEvent::Sync { version: 2, .. },
                        ..
                    }]
                ),
                "{events:?}"
            );
            assert_eq!(
                pair.client.shared_object("o").unwrap().get("k"),
                Some(&Value::from("x".repeat(9000)))
            );
        }
    }
}

#[test]
fn the_server_calls_the_client_and_hears_its_answer() {
    let mut pair = Pair::connected("live");
    let id = pair
        .server
        .call_client("whoAreYou", vec![Value::from("q")])
        .unwrap();
    pair.run();
    let events = pair.take_client_events();
    let [ClientEvent::ServerCall {
        transaction_id,
        name,
        args,
        ..
    }] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!((*transaction_id, name.as_str()), (id, "whoAreYou"));
    assert_eq!(args, &[Value::from("q")]);
    pair.client.answer_server_call(id, Value::from("me"));
    pair.run();
    assert_eq!(
        pair.take_server_events(),
        [ServerEvent::ClientAnswered {
            transaction_id: id,
            ok: true,
            args: vec![Value::from("me")]
        }]
    );
    // A second answer, or an answer nobody asked for, is ignored.
    pair.client.answer_server_call(id, Value::from("again"));
    pair.client.answer_server_call_error(77.0, Value::Null);
    pair.run();
    let events = pair.take_server_events();
    assert!(
        matches!(
            &events[..],
            [ServerEvent::Ignored { .. }, ServerEvent::Ignored { .. }]
        ),
        "{events:?}"
    );
    // An error answer; a forgotten call's late answer is ignored.
    let failing = pair.server.call_client("fails", vec![]).unwrap();
    let forgotten = pair.server.call_client("slow", vec![]).unwrap();
    pair.server.forget_client_call(forgotten);
    pair.run();
    pair.take_client_events();
    pair.client
        .answer_server_call_error(failing, Value::object([("code", "X".into())]));
    pair.client.answer_server_call(forgotten, Value::Null);
    pair.run();
    let events = pair.take_server_events();
    assert!(
        matches!(
            &events[..],
            [
                ServerEvent::ClientAnswered { ok: false, .. },
                ServerEvent::Ignored { .. }
            ]
        ),
        "{events:?}"
    );
    // At most max_client_calls wait at once.
    let limit = ServerConfig::default().max_client_calls;
    let made = (0..limit + 5)
        .filter(|_| pair.server.call_client("m", vec![]).is_some())
        .count();
    assert_eq!(made, limit);
}
