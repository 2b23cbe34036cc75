//! Pushes: a published stream republished to other servers, one task per target.
//!
//! Each task connects as an encoder does (see [`super::client`]), subscribes to the live
//! stream, sends its snapshot (metadata, sequence headers, the GOP so far) and then follows
//! it. Between the stream and the socket sits a [`PushQueue`] bounded in bytes
//! (`relay_queue_bytes`): when the target reads too slowly for it, the queue lets go of what
//! it holds and restarts at the next keyframe, so the publisher and local viewers never wait
//! for a target. A target that drops, refuses, or stops reading for `write_timeout_secs` is
//! reconnected with jittered backoff while the stream is published. Media bytes are sent as
//! they came (Enhanced RTMP tags included).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rtmpws_protocol::amf::Value;
use rtmpws_protocol::client::{ClientEvent, ClientSession};
use rtmpws_protocol::server::SharedData;
use rtmpws_protocol::{MediaKind, StreamId};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use super::client::{is_error, refused, RelayClient, RelayError};
use super::stats::{Direction, StatusHandle};
use super::url::{mapped_name, RelayUrl};
use super::{Backoff, BACKOFF_BASE};
use crate::gateway::Gateway;
use crate::live::{LiveEvent, LiveStream, MediaFrame, Snapshot};

/// Output the session may hold before the queue stops feeding it (the rest waits in the
/// queue, where it can be dropped).
const OUT_HIGH: usize = 256 * 1024;
/// A connection that lasted this long starts the backoff over.
const STEADY: Duration = Duration::from_secs(10);

/// The push tasks of one publish; dropping it stops them (each unpublishes politely).
#[derive(Default)]
pub struct Pushes {
    stop: Option<watch::Sender<()>>,
}

impl Pushes {
    /// Starts a push of `stream` (published as `app/name`) to each of the app's `push`
    /// targets.
    pub fn start(
        gateway: &Arc<Gateway>,
        app: &str,
        name: &str,
        stream: &Arc<LiveStream>,
    ) -> Pushes {
        let mut pushes = Pushes::default();
        let settings = gateway.settings();
        let Some(rules) = settings.policy.app(app) else {
            return pushes;
        };
        for target in &rules.push {
            match RelayUrl::parse(target) {
                Ok(url) => pushes.add(gateway, app, name, stream, url),
                // Checked with the config; a bad one cannot get here.
                Err(e) => warn!(app, "push target skipped: {e}"),
            }
        }
        pushes
    }

    /// One more target: its URL's own stream name, or the app's `push_name` mapping of the
    /// local name.
    pub fn add(
        &mut self,
        gateway: &Arc<Gateway>,
        app: &str,
        name: &str,
        stream: &Arc<LiveStream>,
        url: RelayUrl,
    ) {
        let settings = gateway.settings();
        let template = settings
            .policy
            .app(app)
            .and_then(|rules| rules.push_name.as_deref())
            .unwrap_or("{name}");
        let target_name = url.stream_name(&mapped_name(template, app, name));
        drop(settings);
        let status = gateway
            .relays
            .board
            .register(Direction::Push, app, name, url.to_string());
        let stop = self
            .stop
            .get_or_insert_with(|| watch::channel(()).0)
            .subscribe();
        let job = Job {
            gateway: Arc::clone(gateway),
            stream: Arc::clone(stream),
            url,
            target_name,
            status,
        };
        tokio::spawn(run(job, stop));
    }
}

struct Job {
    gateway: Arc<Gateway>,
    stream: Arc<LiveStream>,
    url: RelayUrl,
    target_name: String,
    status: StatusHandle,
}

/// How a connection to the target ended without an error.
enum Ended {
    /// The local publish ended.
    Stopped,
}

async fn run(job: Job, mut stop: watch::Receiver<()>) {
    let max = Duration::from_secs(job.gateway.settings().config.relay_retry_max_secs);
    let mut backoff = Backoff::new(BACKOFF_BASE, max);
    let (app, name, target) = (&job.status.app, &job.status.name, &job.url);
    info!(app, name, %target, as_name = %public_name(&job.target_name), "push starting");
    loop {
        let began = Instant::now();
        let result = connect_and_stream(&job, &mut stop).await;
        job.status.disconnected();
        match result {
            Ok(Ended::Stopped) => break,
            Err(e) => {
                if began.elapsed() >= STEADY {
                    backoff.reset();
                }
                let wait = backoff.next_wait();
                let dropped = job.status.read().dropped;
                warn!(app, name, %target, dropped, "push failed: {e}; retrying in {} ms", wait.as_millis());
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => break,
                }
            }
        }
    }
    info!(app, name, %target, "push stopped");
}

/// One connection: set up, then the stream until it ends or the connection fails.
async fn connect_and_stream(
    job: &Job,
    stop: &mut watch::Receiver<()>,
) -> Result<Ended, RelayError> {
    let gateway = &job.gateway;
    let settings = gateway.settings();
    let limits = super::limits(&settings.config);
    let queue_limit = settings.config.relay_queue_bytes;
    // Bounded so that adding it to an instant cannot overflow, whatever the config says.
    let write_timeout = Duration::from_secs(settings.config.write_timeout_secs.min(1 << 30));
    drop(settings);
    let mut client = tokio::select! {
        client = RelayClient::open(&job.url, limits, false, None) => client?,
        _ = stop.changed() => return Ok(Ended::Stopped),
    };
    let stream_id = tokio::select! {
        stream_id = client.publish(&job.target_name) => stream_id?,
        _ = stop.changed() => return Ok(Ended::Stopped),
    };
    job.status.connected();
    let (app, name, target) = (&job.status.app, &job.status.name, &job.url);
    info!(app, name, %target, "push connected");

    let (snapshot, mut rx) = job.stream.subscribe();
    let mut queue = PushQueue::new(queue_limit, &snapshot);
    let mut last_progress = Instant::now();
    loop {
        while client.queued() < OUT_HIGH {
            let Some(item) = queue.pop() else { break };
            send(&mut client.session, stream_id, &item);
            client.take_output();
        }
        let dropped = queue.take_dropped();
        if dropped > 0 {
            job.status.add_dropped(dropped);
        }
        let writing = client.queued() > 0;
        if !writing {
            last_progress = Instant::now();
        }
        tokio::select! {
            biased;
            _ = stop.changed() => {
                client.unpublish(stream_id, &job.target_name, Duration::from_secs(2)).await;
                return Ok(Ended::Stopped);
            }
            read = client.rd.read() => {
                read?;
                client.input()?;
                while let Some(event) = client.session.poll_event() {
                    check_target_event(&event, stream_id)?;
                }
            }
            written = client.wr.write_some(), if writing => {
                job.status.add_bytes(written?);
                last_progress = Instant::now();
            }
            event = rx.recv() => match event {
                Ok(LiveEvent::Media(frame)) => queue.offer_media(frame),
                Ok(LiveEvent::Data(data)) => queue.offer_data(data),
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => queue.lost(missed),
                // The stream itself is gone: nothing more will come.
                Err(RecvError::Closed) => return Ok(Ended::Stopped),
            },
            () = tokio::time::sleep_until(last_progress + write_timeout), if writing => {
                return Err(RelayError::Stalled(write_timeout.as_secs()));
            }
        }
    }
}

/// What a target may say while it is pushed to: an error status on the stream, or `close`.
fn check_target_event(event: &ClientEvent, stream_id: StreamId) -> Result<(), RelayError> {
    match event {
        ClientEvent::Status { stream_id: s, info } if *s == stream_id && is_error(info) => {
            Err(refused(info))
        }
        ClientEvent::ServerCall { name, .. } if name == "close" => Err(RelayError::Closed),
        _ => Ok(()),
    }
}

/// The name without its query, for logs.
fn public_name(name: &str) -> &str {
    name.split_once('?').map_or(name, |(name, _)| name)
}

fn send(session: &mut ClientSession, stream_id: StreamId, item: &Item) {
    match item {
        Item::Media(frame) => session.send_media(
            stream_id,
            frame.timestamp,
            frame.kind,
            frame.payload.clone(),
        ),
        Item::Data(data) => {
            let values = data.values();
            let mut out = Vec::with_capacity(values.len() + 1);
            // Metadata goes as an encoder sends it, for the target to keep.
            if values.first().and_then(Value::as_str) == Some("onMetaData") {
                out.push(Value::from("@setDataFrame"));
            }
            out.extend(values.iter().cloned());
            session.send_data(stream_id, data.timestamp(), out);
        }
    }
}

/// One message waiting for the target.
#[derive(Debug, Clone)]
pub enum Item {
    Media(Arc<MediaFrame>),
    Data(Arc<SharedData>),
}

impl Item {
    fn bytes(&self) -> usize {
        match self {
            Item::Media(frame) => frame.payload.len(),
            Item::Data(data) => data.payload_len(),
        }
    }

    /// Sequence headers and metadata: what a decoder needs whatever was skipped.
    fn is_header(&self) -> bool {
        match self {
            Item::Media(frame) => frame.sequence_header,
            Item::Data(data) => data.values().first().and_then(Value::as_str) == Some("onMetaData"),
        }
    }
}

/// The messages of a stream on their way to one target, bounded in bytes. Past the bound
/// it keeps only headers and waits for the next keyframe (any audio frame, if the stream
/// has no video), so what the target gets always decodes.
#[derive(Debug)]
pub struct PushQueue {
    items: VecDeque<Item>,
    bytes: usize,
    limit: usize,
    await_keyframe: bool,
    has_video: bool,
    dropped: u64,
}

impl PushQueue {
    /// A queue that starts with `snapshot`: metadata, sequence headers, then the GOP (or,
    /// without one, the next keyframe).
    pub fn new(limit: usize, snapshot: &Snapshot) -> PushQueue {
        let mut queue = PushQueue {
            items: VecDeque::new(),
            bytes: 0,
            limit: limit.max(1),
            await_keyframe: true,
            has_video: snapshot.video_header.is_some()
                || snapshot.gop.iter().any(|f| f.kind == MediaKind::Video),
            dropped: 0,
        };
        if let Some(metadata) = &snapshot.metadata {
            queue.offer_data(Arc::clone(metadata));
        }
        let frames = snapshot
            .audio_header
            .iter()
            .chain(&snapshot.video_header)
            .chain(&snapshot.track_headers)
            .chain(&snapshot.gop);
        for frame in frames {
            queue.offer_media(Arc::clone(frame));
        }
        queue
    }

    fn push(&mut self, item: Item) {
        self.bytes += item.bytes();
        self.items.push_back(item);
    }

    pub fn offer_media(&mut self, frame: Arc<MediaFrame>) {
        if frame.kind == MediaKind::Video {
            self.has_video = true;
        }
        if frame.sequence_header {
            return self.push(Item::Media(frame));
        }
        let starts = !self.has_video || (frame.kind == MediaKind::Video && frame.keyframe);
        if self.await_keyframe {
            if !starts {
                self.dropped += 1;
                return;
            }
            self.await_keyframe = false;
        }
        if self.bytes + frame.payload.len() > self.limit {
            self.skip();
            if !starts {
                self.dropped += 1;
                return;
            }
            self.await_keyframe = false;
        }
        self.push(Item::Media(frame));
    }

    pub fn offer_data(&mut self, data: Arc<SharedData>) {
        let item = Item::Data(data);
        if self.bytes + item.bytes() > self.limit && !item.is_header() {
            self.dropped += 1;
            return;
        }
        self.push(item);
    }

    /// The ring lost `missed` messages for this target: wait for a keyframe.
    pub fn lost(&mut self, missed: u64) {
        self.dropped += missed;
        self.skip();
    }

    /// Lets go of everything but headers; the next keyframe starts again.
    fn skip(&mut self) {
        let before = self.items.len();
        self.items.retain(Item::is_header);
        self.dropped += (before - self.items.len()) as u64;
        self.bytes = self.items.iter().map(Item::bytes).sum();
        self.await_keyframe = true;
    }

    pub fn pop(&mut self) -> Option<Item> {
        let item = self.items.pop_front()?;
        self.bytes -= item.bytes();
        Some(item)
    }

    /// Messages dropped since the last call.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rtmpws_protocol::Timestamp;

    fn frame(kind: MediaKind, ts: u32, bytes: &[u8]) -> Arc<MediaFrame> {
        Arc::new(MediaFrame::new(
            kind,
            Timestamp(ts),
            Bytes::copy_from_slice(bytes),
            4096,
        ))
    }

    fn key(ts: u32, size: usize) -> Arc<MediaFrame> {
        let mut body = vec![0x17, 1];
        body.resize(size, 0);
        frame(MediaKind::Video, ts, &body)
    }

    fn inter(ts: u32, size: usize) -> Arc<MediaFrame> {
        let mut body = vec![0x27, 1];
        body.resize(size, 0);
        frame(MediaKind::Video, ts, &body)
    }

    fn timestamps(queue: &mut PushQueue) -> Vec<u32> {
        std::iter::from_fn(|| queue.pop())
            .map(|item| match item {
                Item::Media(f) => f.timestamp.0,
                Item::Data(_) => u32::MAX,
            })
            .collect()
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            published: true,
            metadata: Some(Arc::new(SharedData::new(
                Timestamp(0),
                Arc::new(vec!["onMetaData".into(), Value::EcmaArray(vec![])]),
                4096,
            ))),
            audio_header: Some(frame(MediaKind::Audio, 0, &[0xAF, 0, 0x12, 0x10])),
            video_header: Some(frame(MediaKind::Video, 0, &[0x17, 0, 0, 0, 0])),
            gop: vec![key(100, 10), inter(133, 10)],
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_target_starts_from_the_snapshot_then_follows_the_stream() {
        let mut queue = PushQueue::new(1 << 20, &snapshot());
        queue.offer_media(inter(166, 10));
        assert_eq!(timestamps(&mut queue), [u32::MAX, 0, 0, 100, 133, 166]);
        assert_eq!(queue.take_dropped(), 0);
    }

    #[test]
    fn without_a_gop_the_target_waits_for_a_keyframe() {
        let mut snap = snapshot();
        snap.gop.clear();
        let mut queue = PushQueue::new(1 << 20, &snap);
        queue.offer_media(inter(10, 10));
        queue.offer_media(frame(MediaKind::Audio, 12, &[0xAF, 1, 1]));
        queue.offer_media(key(20, 10));
        queue.offer_media(inter(30, 10));
        assert_eq!(timestamps(&mut queue), [u32::MAX, 0, 0, 20, 30]);
        assert_eq!(queue.take_dropped(), 2);
    }

    #[test]
    fn a_slow_target_keeps_the_headers_and_restarts_at_the_next_keyframe() {
        let mut queue = PushQueue::new(1000, &snapshot());
        for ts in 0..20 {
            queue.offer_media(inter(200 + ts, 100));
        }
        assert!(queue.bytes() <= 1000, "{}", queue.bytes());
        assert!(queue.take_dropped() > 0);
        queue.offer_media(key(300, 100));
        queue.offer_media(inter(333, 100));
        let got = timestamps(&mut queue);
        assert_eq!(got, [u32::MAX, 0, 0, 300, 333]);
        // The ring losing messages for it does the same.
        queue.offer_media(inter(366, 10));
        queue.lost(5);
        queue.offer_media(inter(400, 10));
        queue.offer_media(key(433, 10));
        assert_eq!(timestamps(&mut queue), [433]);
        assert_eq!(queue.take_dropped(), 5 + 1 + 1);
    }

    #[test]
    fn audio_only_streams_restart_at_any_frame() {
        let snap = Snapshot {
            audio_header: Some(frame(MediaKind::Audio, 0, &[0xAF, 0, 0x12, 0x10])),
            ..Snapshot::default()
        };
        let mut queue = PushQueue::new(250, &snap);
        for ts in 1..=4 {
            queue.offer_media(frame(MediaKind::Audio, ts, &[0xAF, 1, 0, 0, 0, 0][..]));
        }
        let mut big = vec![0xAF, 1];
        big.resize(240, 0);
        queue.offer_media(frame(MediaKind::Audio, 5, &big));
        assert_eq!(timestamps(&mut queue), [0, 5]);
    }
}
