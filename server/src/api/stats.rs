//! What the admin API reports, as JSON: the gateway in sum, each live stream, each client.
//! Counted from the live-stream registry and the connection registry when asked; the codecs
//! come from the sequence headers each live stream keeps for late joiners.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use rtmpws_media::aac::AudioSpecificConfig;
use rtmpws_media::avc::AvcDecoderConfig;
use rtmpws_media::flv::{
    parse_audio_tag, parse_video_tag, AacPacketType, AudioCodec, AvcPacketType, VideoCodec,
};
use serde_json::{json, Value};

use crate::clients::{Client, Transport, UseKind};
use crate::gateway::Gateway;
use crate::live::MediaFrame;

/// `GET /api/v1/summary`.
pub fn summary(gateway: &Gateway) -> Value {
    let clients = gateway.clients.list();
    let mut by_transport: HashMap<&str, usize> = HashMap::new();
    let (mut bytes_in, mut bytes_out, mut rate_in, mut rate_out) = (0u64, 0u64, 0u64, 0u64);
    let (mut publishers, mut viewers) = (0usize, 0usize);
    for client in &clients {
        *by_transport.entry(client.transport.as_str()).or_default() += 1;
        bytes_in += client.bytes_in.load(Ordering::Relaxed);
        bytes_out += client.bytes_out.load(Ordering::Relaxed);
        let (r_in, r_out) = client.rates();
        rate_in += r_in;
        rate_out += r_out;
        let state = client.state();
        publishers += state
            .uses
            .iter()
            .filter(|u| u.kind == UseKind::Publish)
            .count();
        viewers += state
            .uses
            .iter()
            .filter(|u| u.kind != UseKind::Publish)
            .count();
    }
    let streams = gateway
        .registry
        .list()
        .iter()
        .filter(|(_, _, s)| s.is_published())
        .count();
    let (recordings, recording_bytes) = gateway.recordings.in_progress();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": unix_secs(gateway.started_at()),
        "uptime_secs": gateway.uptime().as_secs_f64(),
        "connections": {
            "total": clients.len(),
            "tcp": by_transport.get("tcp").copied().unwrap_or(0),
            "rtmps": by_transport.get("rtmps").copied().unwrap_or(0),
            "ws": by_transport.get("ws").copied().unwrap_or(0),
            "wss": by_transport.get("wss").copied().unwrap_or(0),
        },
        "streams": streams,
        "publishers": publishers,
        "viewers": viewers,
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
        "kbps": { "in": rate_in / 1000, "out": rate_out / 1000 },
        "recordings": recordings,
        "recording_bytes": recording_bytes,
    })
}

/// `GET /api/v1/streams`: every published live stream.
pub fn streams(gateway: &Gateway) -> Value {
    let clients = gateway.clients.list();
    let by_id: HashMap<u64, &Client> = clients.iter().map(|c| (c.id, c.as_ref())).collect();
    let states: Vec<_> = clients.iter().map(|c| (c.as_ref(), c.state())).collect();
    let mut streams = Vec::new();
    for (app, name, stream) in gateway.registry.list() {
        let info = stream.info();
        let Some(publisher_id) = info.publisher else {
            continue;
        };
        let publisher = by_id.get(&publisher_id);
        let mut viewers: HashMap<&str, u64> =
            Transport::ALL.iter().map(|t| (t.as_str(), 0)).collect();
        let mut kbps_out = 0;
        let mut recording = false;
        for (client, state) in &states {
            if state.app.as_deref() != Some(app.as_str()) {
                continue;
            }
            for u in state.uses.iter().filter(|u| u.name == name) {
                match u.kind {
                    UseKind::Live => {
                        *viewers.entry(client.transport.as_str()).or_default() += 1;
                        kbps_out += client.rates().1 / 1000;
                    }
                    UseKind::Publish if client.id == publisher_id => recording |= u.recording,
                    _ => {}
                }
            }
        }
        let total: u64 = viewers.values().sum();
        let uptime = info
            .published_at
            .and_then(|at| SystemTime::now().duration_since(at).ok())
            .map_or(0.0, |d| d.as_secs_f64());
        streams.push(json!({
            "app": app,
            "name": name,
            "publisher": publisher.map(|p| json!({
                "id": p.id,
                "address": p.addr,
                "transport": p.transport.as_str(),
            })).unwrap_or(json!({ "id": publisher_id })),
            "video": info.video_header.as_deref().map(video_codec),
            "audio": info.audio_header.as_deref().map(audio_codec),
            "kbps": {
                "in": publisher.map_or(0, |p| p.rates().0 / 1000),
                "out": kbps_out,
            },
            "viewers": {
                "total": total,
                "tcp": viewers["tcp"],
                "rtmps": viewers["rtmps"],
                "ws": viewers["ws"],
                "wss": viewers["wss"],
            },
            "uptime_secs": uptime,
            "recording": recording,
        }));
    }
    json!({ "streams": streams })
}

/// `GET /api/v1/clients`: every live connection.
pub fn clients(gateway: &Gateway) -> Value {
    let clients: Vec<Value> = gateway.clients.list().iter().map(|c| describe(c)).collect();
    json!({ "clients": clients })
}

/// `GET /api/v1/clients/ID`.
pub fn client(gateway: &Gateway, id: u64) -> Option<Value> {
    gateway.clients.get(id).map(|c| describe(&c))
}

fn describe(client: &Client) -> Value {
    let state = client.state();
    let (rate_in, rate_out) = client.rates();
    let streams: Vec<Value> = state
        .uses
        .iter()
        .map(|u| {
            json!({
                "stream_id": u.stream_id,
                "name": u.name,
                "kind": u.kind.as_str(),
                "recording": u.recording,
            })
        })
        .collect();
    let connected = SystemTime::now()
        .duration_since(client.since)
        .map_or(0.0, |d| d.as_secs_f64());
    json!({
        "id": client.id,
        "address": client.addr,
        "transport": client.transport.as_str(),
        "app": state.app,
        "role": state.role().as_str(),
        // The stream of its first NetStream, for a one-line view; all of them below.
        "stream": state.uses.first().map(|u| u.name.clone()),
        "streams": streams,
        "bytes_in": client.bytes_in.load(Ordering::Relaxed),
        "bytes_out": client.bytes_out.load(Ordering::Relaxed),
        "kbps": { "in": rate_in / 1000, "out": rate_out / 1000 },
        "dropped": client.dropped.load(Ordering::Relaxed),
        "connected_at": unix_secs(client.since),
        "connected_secs": connected,
    })
}

fn unix_secs(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The video codec of a sequence header: for H.264 with its profile, level and picture size.
pub fn video_codec(header: &MediaFrame) -> Value {
    let Ok(tag) = parse_video_tag(&header.payload) else {
        return json!({ "codec": "unknown" });
    };
    match tag.codec {
        VideoCodec::Avc if tag.avc_packet_type == Some(AvcPacketType::SequenceHeader) => {
            let record = header.payload.get(tag.payload_offset..).unwrap_or_default();
            match AvcDecoderConfig::parse(record) {
                Ok(config) => {
                    let sps = config.first_sps().ok();
                    json!({
                        "codec": "H264",
                        "codec_string": config.codec_string(),
                        "profile": avc_profile(config.profile),
                        "level": format!("{}.{}", config.level / 10, config.level % 10),
                        "width": sps.map(|s| s.width),
                        "height": sps.map(|s| s.height),
                    })
                }
                Err(_) => json!({ "codec": "H264" }),
            }
        }
        VideoCodec::Avc => json!({ "codec": "H264" }),
        VideoCodec::FourCc(fourcc) => json!({ "codec": String::from_utf8_lossy(&fourcc) }),
        VideoCodec::Other(id) => json!({ "codec": legacy_video(id) }),
    }
}

/// The audio codec of a sequence header: for AAC with its profile, sample rate and channels.
pub fn audio_codec(header: &MediaFrame) -> Value {
    let Ok(tag) = parse_audio_tag(&header.payload) else {
        return json!({ "codec": "unknown" });
    };
    match tag.codec {
        AudioCodec::Aac if tag.aac_packet_type == Some(AacPacketType::SequenceHeader) => {
            let config = header.payload.get(tag.payload_offset..).unwrap_or_default();
            match AudioSpecificConfig::parse(config) {
                Ok(asc) => json!({
                    "codec": "AAC",
                    "codec_string": asc.codec_string(),
                    "profile": aac_profile(asc.object_type),
                    "sample_rate": asc.extension_sample_rate.unwrap_or(asc.sample_rate),
                    "channels": asc.channel_count(),
                }),
                Err(_) => json!({ "codec": "AAC" }),
            }
        }
        AudioCodec::Aac => json!({ "codec": "AAC" }),
        AudioCodec::FourCc(fourcc) => json!({ "codec": String::from_utf8_lossy(&fourcc) }),
        AudioCodec::Other(format) => {
            let rates = [5512, 11025, 22050, 44100];
            let rate = rates[usize::from(tag.sound_rate & 3)];
            json!({
            "codec": legacy_audio(format),
            "sample_rate": rate,
            "channels": if tag.sound_type == 1 { 2 } else { 1 },
            })
        }
    }
}

fn avc_profile(profile: u8) -> String {
    match profile {
        66 => "Baseline".into(),
        77 => "Main".into(),
        88 => "Extended".into(),
        100 => "High".into(),
        110 => "High 10".into(),
        122 => "High 4:2:2".into(),
        244 => "High 4:4:4".into(),
        other => other.to_string(),
    }
}

fn aac_profile(object_type: u8) -> String {
    match object_type {
        1 => "Main".into(),
        2 => "LC".into(),
        5 => "HE".into(),
        29 => "HEv2".into(),
        other => other.to_string(),
    }
}

fn legacy_video(id: u8) -> String {
    match id {
        2 => "H263".into(),
        3 => "Screen".into(),
        4 => "VP6".into(),
        5 => "VP6A".into(),
        6 => "Screen2".into(),
        other => format!("codec {other}"),
    }
}

fn legacy_audio(format: u8) -> String {
    match format {
        0 | 3 => "PCM".into(),
        1 => "ADPCM".into(),
        2 => "MP3".into(),
        4..=6 => "Nellymoser".into(),
        7 => "G711A".into(),
        8 => "G711U".into(),
        11 => "Speex".into(),
        other => format!("format {other}"),
    }
}

/// `GET /api/v1/relays`: every push and pull running now.
pub fn relays(gateway: &Gateway) -> Value {
    let relays: Vec<Value> = gateway
        .relays
        .stats()
        .into_iter()
        .map(|r| {
            json!({
                "direction": r.direction.as_str(),
                "app": r.app,
                "name": r.name,
                "target": r.target,
                "connected": r.connected,
                "bytes": r.bytes,
                "reconnects": r.reconnects,
                "dropped": r.dropped,
            })
        })
        .collect();
    json!({ "relays": relays })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rtmpws_protocol::{MediaKind, Timestamp};

    fn frame(kind: MediaKind, payload: &[u8]) -> MediaFrame {
        MediaFrame::new(kind, Timestamp(0), Bytes::copy_from_slice(payload), 4096)
    }

    #[test]
    fn an_aac_header_gives_its_rate_and_channels() {
        // AAC-LC, 44.1 kHz (index 4), stereo.
        let header = frame(MediaKind::Audio, &[0xAF, 0x00, 0x12, 0x10]);
        let codec = audio_codec(&header);
        assert_eq!(codec["codec"], "AAC");
        assert_eq!(codec["profile"], "LC");
        assert_eq!(codec["sample_rate"], 44100);
        assert_eq!(codec["channels"], 2);
    }

    #[test]
    fn broken_headers_still_name_what_they_can() {
        assert_eq!(
            video_codec(&frame(MediaKind::Video, &[0x17, 0, 0, 0, 0, 9]))["codec"],
            "H264"
        );
        assert_eq!(
            video_codec(&frame(MediaKind::Video, &[]))["codec"],
            "unknown"
        );
        assert_eq!(
            audio_codec(&frame(MediaKind::Audio, &[0xAF, 0x00]))["codec"],
            "AAC"
        );
        assert_eq!(
            video_codec(&frame(MediaKind::Video, &[0x90, b'h', b'v', b'c', b'1']))["codec"],
            "hvc1"
        );
    }
}
