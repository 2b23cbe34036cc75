//! Seed inputs for every target, built with the crates' own encoders (no media is
//! downloaded): `cargo run -p rtmpws-fuzz-harness --bin seeds` writes them to `fuzz/corpus/`.

use bytes::BytesMut;
use rtmpws_media::flv::{write_file_header, write_tag, TagKind};
use rtmpws_protocol::amf::{amf0, Value};
use rtmpws_protocol::chunk::{ChunkEncoder, MessageHeader};
use rtmpws_protocol::client::{ClientConfig, ClientEvent, ClientSession};
use rtmpws_protocol::handshake::Handshake;
use rtmpws_protocol::server::{ServerConfig, ServerEvent, ServerSession};
use rtmpws_protocol::types::{ChunkStreamId, MediaKind, MessageType, StreamId, Timestamp};

/// An x264 High-profile 640x360 AVCDecoderConfigurationRecord.
pub const AVC_RECORD: &str = "0164001effe1001a6764001eacd940a02ff970110000030001000003003c0f162d9601000668ebe3cb22c0fdf8f800";
/// AAC-LC 44.1 kHz stereo, and HE-AAC with an explicit SBR extension.
pub const ASC_LC: [u8; 2] = [0x12, 0x10];
pub const ASC_HE: [u8; 5] = [0x2b, 0x92, 0x08, 0x00, 0x00];

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `(target, name, bytes)` for every seed.
pub fn all() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        seeds.push((target, name.to_owned(), bytes));
    };
    let with = |control: &[u8], body: &[u8]| [control, body].concat();

    // Chunk streams, the AMF in them, and the handshake.
    let chunks = client_chunks();
    add("chunk_decoder", "client", with(&[0, 0], &chunks));
    add(
        "chunk_decoder",
        "client-tight-split",
        with(&[1, 5], &chunks),
    );
    add("chunk_decoder", "server", with(&[0, 0], &server_chunks()));
    add(
        "chunk_decoder",
        "extended",
        with(&[0, 3], &extended_chunks()),
    );
    add("chunk_roundtrip", "mixed", roundtrip_description());
    add("chunk_roundtrip", "small-chunks", {
        let mut d = roundtrip_description();
        d[0] = 2;
        d[1] = 9;
        d
    });
    for (name, values) in amf0_values() {
        let mut bytes = Vec::new();
        amf0::encode_all(&values, &mut bytes);
        add("amf0", name, bytes);
    }
    add("amf0", "reference", hex("0300016102000178000009070000"));
    add("amf0", "avmplus", hex("110a0b01036106037801"));
    for (name, bytes) in amf3_values() {
        add("amf3", name, bytes);
    }
    let (_, c0c1) = Handshake::client(1);
    let mut c0c1c2 = c0c1.clone();
    c0c1c2.resize(1 + 2 * 1536, 0);
    c0c1c2.extend_from_slice(&chunks[..64]);
    add("handshake", "simple", with(&[0], &c0c1c2));
    add("handshake", "split", with(&[100], &c0c1c2));
    add("server_session", "publish", with(&[0, 0], &chunks));
    add("server_session", "publish-split", with(&[2, 17], &chunks));
    add(
        "server_session",
        "raw",
        with(&[1, 0], &[&c0c1c2[..3073], &chunks[..]].concat()),
    );
    add("server_session", "play", with(&[8, 0], &player_chunks()));
    let server = server_chunks();
    add("client_session", "server", with(&[0, 0], &server));
    add(
        "client_session",
        "server-amf3-split",
        with(&[10, 33], &server),
    );

    // Media.
    let flv = flv_file(true, true, false);
    add("flv_reader", "av", with(&[0, 0], &flv));
    add("flv_reader", "av-small", with(&[1, 40], &flv));
    add("remux", "av", with(&[0, 0], &flv));
    add("remux", "av-expected", with(&[7, 0], &flv));
    add(
        "remux",
        "audio-tight",
        with(&[8 | 32, 0], &flv_file(true, false, false)),
    );
    add(
        "remux",
        "video-reset",
        with(&[16, 0], &flv_file(false, true, false)),
    );
    add("vod_index", "av", with(&[0], &flv));
    add(
        "vod_index",
        "keyframe-table",
        with(&[0], &flv_file(true, true, true)),
    );
    add(
        "vod_index",
        "audio",
        with(&[50], &flv_file(true, false, false)),
    );
    let record = hex(AVC_RECORD);
    add("avc_config", "record", with(&[0], &record));
    add("avc_config", "sps", with(&[1], &record[8..8 + 26]));
    add("aac_config", "lc", ASC_LC.to_vec());
    add("aac_config", "he", ASC_HE.to_vec());
    add("aac_config", "eld", vec![0xf8, 0xf0, 0x20, 0x00]);
    let upgrade = b"GET /live HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\n\
        X-Forwarded-For: 203.0.113.9, 10.0.0.1\r\n\r\n";
    add("http_request", "upgrade", with(&[7], upgrade));
    let api = b"POST /api/v1/apps/live/shared_objects/chat/send HTTP/1.1\r\nHost: h\r\n\
        Authorization: Bearer 0123456789abcdef\r\nContent-Length: 2\r\n\r\n{}";
    add("http_request", "api", with(&[1], api));
    seeds
}

fn amf0_values() -> Vec<(&'static str, Vec<Value>)> {
    let connect = Value::object([
        ("app", Value::from("live")),
        ("flashVer", "FMLE/3.0".into()),
        ("tcUrl", "rtmp://localhost/live".into()),
        ("fpad", false.into()),
        ("audioCodecs", 3575.0.into()),
        ("objectEncoding", 0.0.into()),
    ]);
    let metadata = Value::EcmaArray(vec![
        ("duration".into(), 2.5.into()),
        ("width".into(), 640.0.into()),
        ("videocodecid".into(), 7.0.into()),
    ]);
    vec![
        ("connect", vec!["connect".into(), 1.0.into(), connect]),
        (
            "metadata",
            vec!["@setDataFrame".into(), "onMetaData".into(), metadata],
        ),
        (
            "misc",
            vec![
                Value::Null,
                Value::Undefined,
                Value::Date(1.7e12),
                Value::Xml("<a/>".into()),
                Value::StrictArray(vec![1.0.into(), Value::Null, "x".into()]),
                Value::TypedObject {
                    class_name: "flex.Msg".into(),
                    properties: vec![("body".into(), Value::ByteArray(vec![1, 2, 3]))],
                },
                Value::Number(f64::NAN),
            ],
        ),
    ]
}

fn amf3_values() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        // An anonymous dynamic object {a: "x", b: 5, c: <reference to "x">}.
        ("object", hex("0a0b010361060378036204050363060201")),
        // Two sealed typed objects in an array, the second by trait reference.
        ("typed", hex("0905010a13074d7367036e04010a010402")),
        // Dense array with an associative part.
        ("array", hex("0903036b06037a010407")),
        ("integers", hex("04ffffffff")),
        ("double", hex("053ff8000000000000")),
        ("date", hex("0801427d4dd1df800000")),
        ("bytearray", hex("0c0701020304")),
        ("vector-int", hex("0d05000000000100000002")),
        ("vector-object", hex("10030001060361")),
        ("dictionary", hex("1103000603610401")),
        ("xml", hex("0b093c612f3e")),
    ]
}

fn flv_file(audio: bool, video: bool, keyframe_table: bool) -> Vec<u8> {
    let mut out = Vec::new();
    write_file_header(audio, video, &mut out);
    let mut metadata = vec![
        ("duration".to_owned(), Value::Number(0.3)),
        ("hasVideo".to_owned(), video.into()),
        ("hasAudio".to_owned(), audio.into()),
    ];
    if keyframe_table {
        // Offsets of the two keyframes below, computed by writing the file once without it.
        let positions = keyframe_positions(audio, video);
        metadata.push((
            "keyframes".into(),
            Value::object([
                ("times", Value::StrictArray(vec![0.0.into(), 0.2.into()])),
                (
                    "filepositions",
                    Value::StrictArray(positions.iter().map(|&p| (p as f64).into()).collect()),
                ),
            ]),
        ));
    }
    let mut script = Vec::new();
    amf0::encode_all(
        &["onMetaData".into(), Value::EcmaArray(metadata)],
        &mut script,
    );
    write_tag(TagKind::Script, 0, &script, &mut out).unwrap();
    media_tags(audio, video, &mut out);
    out
}

fn media_tags(audio: bool, video: bool, out: &mut Vec<u8>) -> Vec<u64> {
    let mut keyframes = Vec::new();
    if video {
        let mut seq = vec![0x17, 0, 0, 0, 0];
        seq.extend_from_slice(&hex(AVC_RECORD));
        write_tag(TagKind::Video, 0, &seq, out).unwrap();
    }
    if audio {
        write_tag(TagKind::Audio, 0, &[0xaf, 0, ASC_LC[0], ASC_LC[1]], out).unwrap();
    }
    for i in 0..10u32 {
        if video {
            let key = i % 6 == 0;
            if key {
                keyframes.push(out.len() as u64);
            }
            let frame = [
                if key { 0x17 } else { 0x27 },
                1,
                0,
                0,
                0x21,
                0,
                0,
                0,
                3,
                0x65,
                0x88,
                0x84,
            ];
            write_tag(TagKind::Video, i * 33, &frame, out).unwrap();
        }
        if audio {
            write_tag(
                TagKind::Audio,
                i * 23,
                &[0xaf, 1, 0x21, 0x10, 0x04, 0x60],
                out,
            )
            .unwrap();
        }
    }
    write_tag(TagKind::Video, 330, &[0x17, 2, 0, 0, 0], out).unwrap();
    keyframes
}

fn keyframe_positions(audio: bool, video: bool) -> Vec<u64> {
    let probe = flv_file_len_before_media(audio, video);
    let mut scratch = vec![0; probe];
    let found = media_tags(audio, video, &mut scratch);
    if found.len() >= 2 {
        found[..2].to_vec()
    } else {
        vec![probe as u64, probe as u64 + 100]
    }
}

/// The header and script tag's length when the script carries the keyframe table (whose
/// numbers are all doubles, so their values do not change its size).
fn flv_file_len_before_media(audio: bool, video: bool) -> usize {
    let mut out = Vec::new();
    write_file_header(audio, video, &mut out);
    let table = Value::object([
        ("times", Value::StrictArray(vec![0.0.into(), 0.0.into()])),
        (
            "filepositions",
            Value::StrictArray(vec![0.0.into(), 0.0.into()]),
        ),
    ]);
    let metadata = vec![
        ("duration".to_owned(), Value::Number(0.3)),
        ("hasVideo".to_owned(), video.into()),
        ("hasAudio".to_owned(), audio.into()),
        ("keyframes".to_owned(), table),
    ];
    let mut script = Vec::new();
    amf0::encode_all(
        &["onMetaData".into(), Value::EcmaArray(metadata)],
        &mut script,
    );
    write_tag(TagKind::Script, 0, &script, &mut out).unwrap();
    out.len()
}

/// A publisher's chunk stream after the handshake: connect, createStream, publish,
/// metadata, media, getStreamLength, deleteStream.
fn client_chunks() -> Vec<u8> {
    let mut client = ClientSession::new(ClientConfig::default());
    let mut s0s1s2 = vec![3u8];
    s0s1s2.resize(1 + 2 * 1536, 0);
    client.handle_input(&s0s1s2).unwrap();
    client.connect(
        Value::object([
            ("app", Value::from("live/inst?key=1")),
            ("tcUrl", "rtmp://localhost/live/inst?key=1".into()),
        ]),
        vec![Value::from("extra")],
    );
    client.create_stream();
    let stream = StreamId(1);
    client.publish(stream, "cam", "live");
    client.send_data(
        stream,
        Timestamp::ZERO,
        vec![
            "@setDataFrame".into(),
            "onMetaData".into(),
            Value::EcmaArray(vec![]),
        ],
    );
    let mut seq = vec![0x17, 0, 0, 0, 0];
    seq.extend_from_slice(&hex(AVC_RECORD));
    client.send_media(stream, Timestamp::ZERO, MediaKind::Video, seq.into());
    client.send_media(
        stream,
        Timestamp(40),
        MediaKind::Video,
        vec![0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41].into(),
    );
    client.send_media(
        stream,
        Timestamp(23),
        MediaKind::Audio,
        vec![0xaf, 1, 0x21].into(),
    );
    client.call("getStreamLength", vec![Value::Null, "cam".into()]);
    client.close_stream(stream);
    client.delete_stream(stream);
    client.take_output()[2 * 1536 + 1..].to_vec()
}

/// A player's chunk stream after the handshake.
fn player_chunks() -> Vec<u8> {
    let mut client = ClientSession::new(ClientConfig::default());
    let mut s0s1s2 = vec![3u8];
    s0s1s2.resize(1 + 2 * 1536, 0);
    client.handle_input(&s0s1s2).unwrap();
    client.connect(
        Value::object([("app", Value::from("vod")), ("objectEncoding", 3.0.into())]),
        vec![],
    );
    client.create_stream();
    client.set_buffer_length(StreamId(1), 3000);
    client.play(StreamId(1), "clip", 0.0, -1.0, true);
    client.stream_command(StreamId(1), "pause", vec![true.into(), 500.0.into()]);
    client.stream_command(StreamId(1), "seek", vec![1000.0.into()]);
    client.stream_command(StreamId(1), "receiveAudio", vec![false.into()]);
    client.stream_command(
        StreamId(1),
        "play2",
        vec![Value::object([
            ("streamName", Value::from("clip2")),
            ("transition", "switch".into()),
        ])],
    );
    client.take_output()[2 * 1536 + 1..].to_vec()
}

/// What a server sends a player after the handshake, from a real session pair.
fn server_chunks() -> Vec<u8> {
    let mut server = ServerSession::new(ServerConfig::default());
    let mut client = ClientSession::new(ClientConfig::default());
    client.connect(Value::object([("app", Value::from("live"))]), vec![]);
    let mut from_server = Vec::new();
    let mut handshake_left = 1 + 2 * 1536;
    for _ in 0..20 {
        let c = client.take_output();
        server.handle_input(&c).unwrap();
        while let Some(event) = server.poll_event() {
            match event {
                ServerEvent::ConnectRequested(_) => server.accept_connect("seed"),
                ServerEvent::PlayRequested { stream_id, request } => {
                    server.begin_play(stream_id, &request.name, true, false);
                    server.send_data(
                        stream_id,
                        Timestamp::ZERO,
                        vec!["onMetaData".into(), Value::EcmaArray(vec![])],
                    );
                    server.send_message(
                        stream_id,
                        Timestamp(40),
                        &rtmpws_protocol::message::Message::Video(
                            vec![0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65].into(),
                        ),
                    );
                }
                _ => {}
            }
        }
        let mut segments = Vec::new();
        server.drain_output(&mut segments);
        let s: Vec<u8> = segments.concat();
        let skip = handshake_left.min(s.len());
        handshake_left -= skip;
        from_server.extend_from_slice(&s[skip..]);
        client.handle_input(&s).unwrap();
        while let Some(event) = client.poll_event() {
            match event {
                ClientEvent::Connected { .. } => {
                    client.create_stream();
                }
                ClientEvent::StreamCreated { stream_id, .. } => {
                    client.play(stream_id, "cam", -2.0, -1.0, true)
                }
                _ => {}
            }
        }
    }
    from_server
}

/// Messages with a timestamp above 2^24 - 1 (extended timestamps) on a high chunk stream id.
fn extended_chunks() -> Vec<u8> {
    let mut encoder = ChunkEncoder::new();
    let mut out = BytesMut::new();
    for (i, ts) in [0x00ff_fffe_u32, 0x0100_0000, 0x0100_0021, 0x0100_0042]
        .iter()
        .enumerate()
    {
        let header = MessageHeader {
            csid: ChunkStreamId(if i < 2 { 320 } else { 70 }),
            timestamp: Timestamp(*ts),
            type_id: MessageType::AUDIO,
            stream_id: StreamId(1),
        };
        encoder.encode(&header, &[0xaf; 300], &mut out).unwrap();
    }
    out.to_vec()
}

/// Input for `chunk_roundtrip`: chunk size 4096, then messages of each header kind.
fn roundtrip_description() -> Vec<u8> {
    vec![
        6,
        0, // chunk size 4096, whole
        0b0100_1000,
        3,
        20,
        1,
        5,
        b'h',
        b'e',
        b'l',
        b'l',
        b'o', // new header, 5 bytes
        0b0100_0001,
        40,
        5,
        1,
        2,
        3,
        4,
        5, // same header, +40 ms
        0b0100_0101,
        40,
        9,
        3,
        1,
        2,
        3, // type change
        0b1110_1010,
        1,
        2,
        3,
        4,
        7,
        8,
        1,
        0x04,
        0x00, // new header, absolute time, 1024 bytes
        0b0011_0011,
        7,
        9,
        2,
        0, // extended timestamp, shared, empty
        0b0101_0011,
        9,
        3,
        1,
        2,
        3, // extended again, shared
    ]
}
