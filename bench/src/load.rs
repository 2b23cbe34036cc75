//! The load: one publisher replaying an FLV file at real time, and viewers that play it. All of
//! them run on one thread and share one clock, so the delivery latency of a message is simply
//! the time a viewer read it minus the time the publisher wrote it.
//!
//! Messages are matched by (type, RTMP timestamp), which is unique per media type because the
//! publisher's timestamps only grow (each loop of the file is shifted past the previous one).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtmpws_media::flv::{FlvItem, FlvReader, TagKind};
use rtmpws_protocol::amf::Value;
use rtmpws_protocol::message::Message;
use rtmpws_protocol::Timestamp;
use tokio::sync::{oneshot, watch, Semaphore};

use crate::client::{status_code, Conn, Error, Incoming};
use crate::rx::wall_ns;

/// The stream name the publisher publishes and viewers play, in application `live`.
pub const STREAM: &str = "bench";
pub const APP: &str = "live";

/// One media tag of the source file.
pub struct Tag {
    pub video: bool,
    pub timestamp: u32,
    pub payload: Bytes,
    /// AVC or AAC sequence header: sent on the first loop only.
    pub header: bool,
}

/// Reads the audio and video tags of an FLV file.
pub fn load_flv(path: &Path) -> Result<Vec<Tag>, Error> {
    let mut reader = FlvReader::new();
    reader.push(&std::fs::read(path)?);
    let mut tags = Vec::new();
    while let Some(item) = reader.next_item()? {
        let FlvItem::Tag(tag) = item else { continue };
        let video = match tag.kind {
            TagKind::Video => true,
            TagKind::Audio => false,
            _ => continue,
        };
        let first = tag.data.first().copied().unwrap_or(0);
        let second = tag.data.get(1).copied();
        let header = if video {
            first & 0x0F == 7 && second == Some(0)
        } else {
            first >> 4 == 10 && second == Some(0)
        };
        tags.push(Tag {
            video,
            timestamp: tag.timestamp,
            payload: tag.data,
            header,
        });
    }
    if tags.is_empty() {
        return Err(format!("{} has no media tags", path.display()).into());
    }
    Ok(tags)
}

/// Makes the source: H.264 (500 kbps, 2 s GOP) and AAC (64 kbps), 640x360 at 30 fps.
pub fn make_source(dir: &Path, seconds: u32) -> Result<PathBuf, Error> {
    let path = dir.join("source.flv");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &seconds.to_string()])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        ])
        .args([
            "-b:v", "500k", "-maxrate", "550k", "-bufsize", "1M", "-g", "60",
        ])
        .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv"])
        .arg(&path)
        .status()
        .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    if !status.success() {
        return Err("ffmpeg could not make the source file".into());
    }
    Ok(path)
}

fn key(type_id: u8, timestamp: u32) -> u64 {
    (u64::from(type_id) << 32) | u64::from(timestamp)
}

/// What the publisher and the viewers of one measurement share.
#[derive(Default)]
pub struct Shared {
    /// When each media message was written by the publisher, by (type, timestamp): on the
    /// monotonic clock, and in CLOCK_REALTIME ns to compare with kernel arrival times.
    sent: RefCell<HashMap<u64, (Instant, i64)>>,
    window_start: Cell<Option<Instant>>,
    window_end: Cell<Option<Instant>>,
    /// Delivery latencies of the messages sent in the window, in microseconds, all viewers:
    /// publisher write to viewer read, and publisher write to arrival in the viewer's socket.
    latencies_us: RefCell<Vec<u32>>,
    arrivals_us: RefCell<Vec<u32>>,
    /// Viewers connected (createStream answered) and viewers that failed.
    pub ready: Cell<usize>,
    pub failed: Cell<usize>,
    /// Viewers that received at least one media message.
    pub playing: Cell<usize>,
    /// Media messages whose (type, timestamp) the publisher never sent: if the server rewrote
    /// timestamps, latencies would be missing and this would say why.
    pub unmatched: Cell<u64>,
}

impl Shared {
    fn in_window(&self, at: Instant) -> bool {
        self.window_start.get().is_some_and(|start| at >= start)
            && self.window_end.get().is_none_or(|end| at <= end)
    }

    pub fn start_window(&self, at: Instant) {
        self.window_start.set(Some(at));
    }

    pub fn end_window(&self, at: Instant) {
        self.window_end.set(Some(at));
    }

    /// Media messages the publisher wrote within the window: what each viewer should get.
    pub fn expected(&self) -> u64 {
        self.sent
            .borrow()
            .values()
            .filter(|&&(at, _)| self.in_window(at))
            .count() as u64
    }

    /// Read latencies and arrival latencies (µs).
    pub fn take_latencies(&self) -> (Vec<u32>, Vec<u32>) {
        (self.latencies_us.take(), self.arrivals_us.take())
    }
}

/// Publishes `tags` in a loop at real time until `stop`; `ready` fires at Publish.Start.
pub async fn publisher(
    addr: SocketAddr,
    tags: Rc<Vec<Tag>>,
    shared: Rc<Shared>,
    ready: oneshot::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut conn = Conn::tcp(addr).await?;
    let stream_id = conn
        .connect_and_create_stream(APP, &format!("rtmp://{addr}/{APP}"))
        .await?;
    conn.command(
        stream_id,
        "publish",
        Value::Null,
        vec![STREAM.into(), "live".into()],
    );
    conn.set_chunk_size(4096);
    conn.flush().await?;
    conn.wait_command(|c| status_code(c) == Some("NetStream.Publish.Start"))
        .await?;
    let _ = ready.send(());

    let first = tags.first().map_or(0, |t| t.timestamp);
    // One loop of the file, plus a frame's worth so timestamps never repeat.
    let span = tags.iter().map(|t| t.timestamp).max().unwrap_or(0) - first + 40;
    let start = tokio::time::Instant::now();
    for round in 0u32.. {
        for tag in tags.iter() {
            if round > 0 && tag.header {
                continue;
            }
            let timestamp = round * span + (tag.timestamp - first);
            let due = start + Duration::from_millis(u64::from(timestamp));
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(due) => break,
                    changed = stop.changed() => {
                        if changed.is_err() || *stop.borrow() {
                            return Ok(());
                        }
                    }
                    read = conn.read() => {
                        if read?.is_none() {
                            return Err("the server closed the publisher's connection".into());
                        }
                        while conn.next()?.is_some() {}
                    }
                }
            }
            let (message, type_id) = if tag.video {
                (Message::Video(tag.payload.clone()), 9)
            } else {
                (Message::Audio(tag.payload.clone()), 8)
            };
            conn.send_at(stream_id, Timestamp(timestamp), &message);
            shared
                .sent
                .borrow_mut()
                .insert(key(type_id, timestamp), (Instant::now(), wall_ns()));
            conn.flush().await?;
        }
    }
    Ok(())
}

/// Where a viewer connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Rtmp,
    WebSocket,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Rtmp => "RTMP",
            Transport::WebSocket => "WebSocket",
        }
    }
}

/// What the viewers are told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Connected, stream created, not playing.
    Idle,
    Play,
    Stop,
}

/// How one viewer fared.
pub struct ViewerOutcome {
    /// Media messages received that the publisher sent within the window.
    pub received: u64,
    pub error: Option<String>,
}

/// One viewer: connects (at most `setup` at a time), waits idle, plays until told to stop.
pub async fn viewer(
    transport: Transport,
    addr: SocketAddr,
    shared: Rc<Shared>,
    mut phase: watch::Receiver<Phase>,
    setup: Rc<Semaphore>,
) -> ViewerOutcome {
    let mut received = 0;
    let result = play(transport, addr, &shared, &mut phase, &setup, &mut received).await;
    let error = result.err().map(|e| e.to_string());
    if error.is_some() {
        shared.failed.set(shared.failed.get() + 1);
    }
    ViewerOutcome { received, error }
}

async fn play(
    transport: Transport,
    addr: SocketAddr,
    shared: &Shared,
    phase: &mut watch::Receiver<Phase>,
    setup: &Semaphore,
    received: &mut u64,
) -> Result<(), Error> {
    let url = match transport {
        Transport::Rtmp => format!("rtmp://{addr}/{APP}"),
        Transport::WebSocket => format!("ws://{addr}/{APP}"),
    };
    let (mut conn, stream_id) = {
        let _permit = setup.acquire().await?;
        let mut conn = match transport {
            Transport::Rtmp => Conn::tcp(addr).await?,
            Transport::WebSocket => Conn::ws(addr, &url).await?,
        };
        let stream_id = conn.connect_and_create_stream(APP, &url).await?;
        (conn, stream_id)
    };
    shared.ready.set(shared.ready.get() + 1);
    if *phase.wait_for(|p| *p != Phase::Idle).await? == Phase::Stop {
        return Ok(());
    }
    conn.command(
        stream_id,
        "play",
        Value::Null,
        vec![STREAM.into(), (-2.0).into(), (-1.0).into(), true.into()],
    );
    conn.flush().await?;
    let mut playing = false;
    loop {
        tokio::select! {
            read = conn.read() => {
                let Some(at) = read? else {
                    return Err("the server closed the connection".into());
                };
                while let Some(incoming) = conn.next()? {
                    let Incoming::Media { type_id, timestamp } = incoming else {
                        continue;
                    };
                    let sent = shared.sent.borrow().get(&key(type_id, timestamp)).copied();
                    let Some((sent, sent_wall)) = sent else {
                        shared.unmatched.set(shared.unmatched.get() + 1);
                        continue;
                    };
                    if !playing {
                        playing = true;
                        shared.playing.set(shared.playing.get() + 1);
                    }
                    if shared.in_window(sent) {
                        *received += 1;
                        let micros = at.read.saturating_duration_since(sent).as_micros();
                        shared
                            .latencies_us
                            .borrow_mut()
                            .push(u32::try_from(micros).unwrap_or(u32::MAX));
                        if let Some(arrival) = at.arrival_ns {
                            let micros = (arrival - sent_wall).max(0) / 1000;
                            shared
                                .arrivals_us
                                .borrow_mut()
                                .push(u32::try_from(micros).unwrap_or(u32::MAX));
                        }
                    }
                }
                conn.flush().await?;
            }
            changed = phase.changed() => {
                if changed.is_err() || *phase.borrow() == Phase::Stop {
                    return Ok(());
                }
            }
        }
    }
}
