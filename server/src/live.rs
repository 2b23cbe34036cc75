//! Live streams: one publisher, many subscribers, a GOP cache so late joiners start at once.
//!
//! Each media message is chunked once ([`SharedChunks`]) and shared by reference count; it
//! reaches subscribers through a bounded broadcast ring, so the publisher's cost per message
//! does not depend on the number of subscribers, and a subscriber that falls behind loses the
//! oldest messages (and then skips to the next keyframe) instead of growing a queue.
//!
//! The ring is bounded in messages (`subscriber_queue` slots) and in bytes
//! (`subscriber_queue_bytes`): a message larger than the bytes per slot takes as many slots as
//! its size needs, the rest filled by [`LiveEvent::Pad`]s, so the messages in the ring never
//! hold much more than `subscriber_queue_bytes` (at most one message more), whatever their
//! sizes. tokio's broadcast ring cannot be resized or evict by size; taking slots is how a
//! large message pushes older ones out sooner.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::sync::lock;

use bytes::Bytes;
use rtmpws_media::tag::{parse_media_tag, MultitrackType, TrackKind};
use rtmpws_protocol::amf::Value;
use rtmpws_protocol::chunk::SharedChunks;
use rtmpws_protocol::server::SharedData;
use rtmpws_protocol::MediaKind;
use rtmpws_protocol::{ChunkStreamId, MessageType, Timestamp};
use tokio::sync::broadcast;

/// One audio or video message, ready to send to any subscriber.
#[derive(Debug)]
pub struct MediaFrame {
    pub kind: MediaKind,
    pub timestamp: Timestamp,
    pub payload: Bytes,
    pub chunks: SharedChunks,
    /// A coded keyframe picture, by the media crate's one rule for every codec.
    pub keyframe: bool,
    /// A codec configuration record (legacy or enhanced sequence start).
    pub sequence_header: bool,
    /// An Enhanced RTMP tag, which a legacy player cannot parse.
    pub enhanced: bool,
    /// The one track the message carries (0 without multitrack), `None` for a message with
    /// several tracks.
    pub track: Option<u8>,
}

impl MediaFrame {
    pub fn new(kind: MediaKind, timestamp: Timestamp, payload: Bytes, chunk_size: u32) -> Self {
        let (csid, type_id, track_kind) = match kind {
            MediaKind::Video => (ChunkStreamId::VIDEO, MessageType::VIDEO, TrackKind::Video),
            MediaKind::Audio => (ChunkStreamId::AUDIO, MessageType::AUDIO, TrackKind::Audio),
        };
        // Computed once per message, here, so a subscriber's decision per frame is a flag test.
        let (keyframe, sequence_header, enhanced, track) =
            match parse_media_tag(track_kind, &payload) {
                Ok(info) => (
                    info.is_keyframe(),
                    info.is_sequence_header(),
                    info.is_enhanced(),
                    match info.multitrack() {
                        None | Some(MultitrackType::OneTrack) => Some(info.track_id()),
                        Some(_) => None,
                    },
                ),
                // Unparseable: relayed as it came, never a keyframe or header; the ExHeader bit
                // (video bit 7, audio sound format 9) still says whether it is enhanced.
                Err(_) => {
                    let first = payload.first().copied().unwrap_or(0);
                    let enhanced = match kind {
                        MediaKind::Video => first & 0x80 != 0,
                        MediaKind::Audio => first >> 4 == 9,
                    };
                    (false, false, enhanced, Some(0))
                }
            };
        let chunks = SharedChunks::new(csid, timestamp, type_id, &payload, chunk_size);
        MediaFrame {
            kind,
            timestamp,
            payload,
            chunks,
            keyframe,
            sequence_header,
            enhanced,
            track,
        }
    }
}

/// What subscribers of a live stream receive, in order.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    Media(Arc<MediaFrame>),
    /// A data message (onMetaData, onCuePoint, NetStream.send handlers), encoded once for
    /// every subscriber.
    Data(Arc<SharedData>),
    Published,
    Unpublished,
    /// Fills the ring slots a large message takes after its own (see the module docs);
    /// subscribers skip it.
    Pad,
}

/// What a new subscriber needs to start at once: metadata, sequence headers, then the
/// current GOP from its keyframe.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub published: bool,
    /// The last onMetaData, at timestamp 0, encoded once for every joining subscriber.
    pub metadata: Option<Arc<SharedData>>,
    pub audio_header: Option<Arc<MediaFrame>>,
    pub video_header: Option<Arc<MediaFrame>>,
    /// Sequence headers of the other tracks of a multitrack stream (track id != 0), one per
    /// kind and id: at most 2 x 256.
    pub track_headers: Vec<Arc<MediaFrame>>,
    pub gop: Vec<Arc<MediaFrame>>,
}

#[derive(Default)]
struct State {
    publisher: Option<u64>,
    /// When the current publisher started.
    published_at: Option<std::time::SystemTime>,
    snapshot: Snapshot,
    gop_bytes: usize,
}

/// What a live stream is now, for the admin API.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// The connection id of its publisher, while published.
    pub publisher: Option<u64>,
    pub published_at: Option<std::time::SystemTime>,
    pub audio_header: Option<Arc<MediaFrame>>,
    pub video_header: Option<Arc<MediaFrame>>,
    /// Receivers of its ring: live subscribers (paused ones included).
    pub subscribers: usize,
}

/// One named live stream.
pub struct LiveStream {
    pub name: String,
    state: Mutex<State>,
    tx: broadcast::Sender<LiveEvent>,
    gop_limit: usize,
    ring: RingLimits,
}

/// The ring's bounds: `slots` messages, each slot worth `slot_bytes`.
#[derive(Debug, Clone, Copy)]
struct RingLimits {
    slots: usize,
    slot_bytes: usize,
}

impl RingLimits {
    fn new(queue: usize, queue_bytes: usize) -> Self {
        let slots = queue.max(1);
        RingLimits {
            slots,
            slot_bytes: (queue_bytes / slots).max(1),
        }
    }

    /// How many slots a message of `bytes` takes: at least one, and never the whole ring,
    /// so its own slot is not overwritten by its pads.
    fn slots_for(&self, bytes: usize) -> usize {
        bytes.div_ceil(self.slot_bytes).clamp(1, self.slots)
    }
}

impl LiveStream {
    fn new(name: String, ring: RingLimits, gop_limit: usize) -> Self {
        let (tx, _) = broadcast::channel(ring.slots);
        LiveStream {
            name,
            state: Mutex::new(State::default()),
            tx,
            gop_limit,
            ring,
        }
    }

    /// Sends `event`, which weighs `bytes`, and the pads for the further slots it takes.
    fn send_weighed(&self, event: LiveEvent, bytes: usize) {
        // No receivers is not an error: nobody is watching.
        let _ = self.tx.send(event);
        for _ in 1..self.ring.slots_for(bytes) {
            let _ = self.tx.send(LiveEvent::Pad);
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Starts following the stream: its current state and every event after it, atomically.
    pub fn subscribe(&self) -> (Snapshot, broadcast::Receiver<LiveEvent>) {
        let state = self.state();
        (state.snapshot.clone(), self.tx.subscribe())
    }

    pub fn is_published(&self) -> bool {
        self.state().publisher.is_some()
    }

    /// Who publishes it, since when, and its sequence headers.
    pub fn info(&self) -> StreamInfo {
        let state = self.state();
        StreamInfo {
            publisher: state.publisher,
            published_at: state.published_at,
            audio_header: state.snapshot.audio_header.clone(),
            video_header: state.snapshot.video_header.clone(),
            subscribers: self.tx.receiver_count(),
        }
    }

    /// How many follow the stream now (viewers, and relays pushing it).
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Publishes a media frame to every subscriber and keeps it in the GOP cache.
    pub fn push_media(&self, frame: Arc<MediaFrame>) {
        let mut state = self.state();
        let snapshot_frame = Arc::clone(&frame);
        if frame.sequence_header && frame.track != Some(0) {
            let headers = &mut state.snapshot.track_headers;
            headers.retain(|h| h.kind != frame.kind || h.track != frame.track);
            headers.push(snapshot_frame);
        } else if frame.sequence_header {
            match frame.kind {
                MediaKind::Audio => state.snapshot.audio_header = Some(snapshot_frame),
                MediaKind::Video => state.snapshot.video_header = Some(snapshot_frame),
            }
        } else if frame.keyframe {
            state.snapshot.gop.clear();
            state.gop_bytes = frame.payload.len();
            state.snapshot.gop.push(snapshot_frame);
        } else if !state.snapshot.gop.is_empty() {
            if state.gop_bytes + frame.payload.len() > self.gop_limit {
                // An oversized GOP would make late joiners wait through it anyway; start over
                // at the next keyframe.
                state.snapshot.gop.clear();
                state.gop_bytes = 0;
            } else {
                state.gop_bytes += frame.payload.len();
                state.snapshot.gop.push(snapshot_frame);
            }
        }
        let bytes = frame.payload.len();
        self.send_weighed(LiveEvent::Media(frame), bytes);
    }

    /// Publishes a data message; onMetaData is also kept for late joiners, who get it at
    /// timestamp 0.
    pub fn push_data(&self, data: Arc<SharedData>) {
        let bytes = data.payload_len();
        let mut state = self.state();
        if data.values().first().and_then(Value::as_str) == Some("onMetaData") {
            let metadata = if data.timestamp() == Timestamp::ZERO {
                Arc::clone(&data)
            } else {
                let values = Arc::clone(data.values());
                Arc::new(SharedData::new(Timestamp::ZERO, values, data.chunk_size()))
            };
            state.snapshot.metadata = Some(metadata);
        }
        self.send_weighed(LiveEvent::Data(data), bytes);
    }
}

/// Why a publish was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PublishError {
    #[error("{0} is already being published")]
    BadName(String),
}

/// All live streams of the gateway, by application and name.
pub struct Registry {
    streams: Mutex<HashMap<(String, String), Arc<LiveStream>>>,
    ring: RingLimits,
    gop_limit: usize,
}

impl Registry {
    /// Streams whose rings hold `queue` messages and about `queue_bytes` bytes, and whose GOP
    /// caches hold `gop_limit` bytes.
    pub fn new(queue: usize, queue_bytes: usize, gop_limit: usize) -> Self {
        Registry {
            streams: Mutex::default(),
            ring: RingLimits::new(queue, queue_bytes),
            gop_limit,
        }
    }

    fn streams(&self) -> MutexGuard<'_, HashMap<(String, String), Arc<LiveStream>>> {
        lock(&self.streams)
    }

    /// The stream of that name, created if nobody has asked for it yet.
    pub fn stream(&self, app: &str, name: &str) -> Arc<LiveStream> {
        let mut streams = self.streams();
        let entry = streams
            .entry((app.to_owned(), name.to_owned()))
            .or_insert_with(|| {
                Arc::new(LiveStream::new(name.to_owned(), self.ring, self.gop_limit))
            });
        Arc::clone(entry)
    }

    /// Every stream someone publishes or waits for: (application, name, stream).
    pub fn list(&self) -> Vec<(String, String, Arc<LiveStream>)> {
        let mut list: Vec<_> = self
            .streams()
            .iter()
            .map(|((app, name), stream)| (app.clone(), name.clone(), Arc::clone(stream)))
            .collect();
        list.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        list
    }

    /// True if someone publishes `name` now.
    pub fn is_published(&self, app: &str, name: &str) -> bool {
        let streams = self.streams();
        streams
            .get(&(app.to_owned(), name.to_owned()))
            .is_some_and(|s| s.is_published())
    }

    /// Makes `publisher` the stream's publisher, unless another one is.
    pub fn publish(
        &self,
        app: &str,
        name: &str,
        publisher: u64,
    ) -> Result<Arc<LiveStream>, PublishError> {
        let stream = self.stream(app, name);
        {
            let mut state = stream.state();
            if state.publisher.is_some() {
                return Err(PublishError::BadName(name.to_owned()));
            }
            state.publisher = Some(publisher);
            state.published_at = Some(std::time::SystemTime::now());
            // A new publisher brings new headers; the old GOP is of no use to anyone.
            state.snapshot = Snapshot {
                published: true,
                ..Snapshot::default()
            };
            state.gop_bytes = 0;
            let _ = stream.tx.send(LiveEvent::Published);
        }
        Ok(stream)
    }

    /// Ends `publisher`'s publication of the stream; subscribers stay subscribed and wait.
    pub fn unpublish(&self, app: &str, stream: &LiveStream, publisher: u64) {
        {
            let mut state = stream.state();
            if state.publisher != Some(publisher) {
                return;
            }
            state.publisher = None;
            state.published_at = None;
            state.snapshot = Snapshot::default();
            state.gop_bytes = 0;
            let _ = stream.tx.send(LiveEvent::Unpublished);
        }
        self.forget_if_unused(app, &stream.name);
    }

    /// Drops a stream nobody publishes or watches, so names do not accumulate.
    pub fn forget_if_unused(&self, app: &str, name: &str) {
        let mut streams = self.streams();
        let key = (app.to_owned(), name.to_owned());
        if let Some(stream) = streams.get(&key) {
            // The map's Arc plus none other, and no receivers: nobody can observe the removal.
            if Arc::strong_count(stream) == 1
                && stream.tx.receiver_count() == 0
                && !stream.is_published()
            {
                streams.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: MediaKind, ts: u32, bytes: &[u8]) -> Arc<MediaFrame> {
        Arc::new(MediaFrame::new(
            kind,
            Timestamp(ts),
            Bytes::copy_from_slice(bytes),
            4096,
        ))
    }

    #[test]
    fn late_joiners_get_headers_and_the_gop_from_its_keyframe() {
        let registry = Registry::new(16, 16 << 20, 1 << 20);
        let stream = registry.publish("live", "cam", 1).unwrap();
        stream.push_data(Arc::new(SharedData::new(
            Timestamp(0),
            Arc::new(vec!["onMetaData".into(), Value::EcmaArray(vec![])]),
            4096,
        )));
        stream.push_media(frame(MediaKind::Video, 0, &[0x17, 0, 0, 0, 0]));
        stream.push_media(frame(MediaKind::Audio, 0, &[0xAF, 0, 0x12, 0x10]));
        stream.push_media(frame(MediaKind::Video, 0, &[0x17, 1, 0, 0, 0, 1]));
        stream.push_media(frame(MediaKind::Video, 33, &[0x27, 1, 0, 0, 0, 2]));
        stream.push_media(frame(MediaKind::Video, 66, &[0x17, 1, 0, 0, 0, 3]));
        stream.push_media(frame(MediaKind::Audio, 70, &[0xAF, 1, 9]));
        let (snapshot, _rx) = stream.subscribe();
        assert!(snapshot.published && snapshot.metadata.is_some());
        assert!(snapshot.audio_header.is_some() && snapshot.video_header.is_some());
        // The last byte of each test payload tells the frames apart.
        let last: Vec<u8> = snapshot
            .gop
            .iter()
            .map(|f| *f.payload.last().unwrap())
            .collect();
        assert_eq!(last, [3, 9]);
    }

    #[test]
    fn a_second_publisher_gets_bad_name_and_the_first_keeps_the_stream() {
        let registry = Registry::new(16, 16 << 20, 1 << 20);
        let stream = registry.publish("live", "cam", 1).unwrap();
        assert_eq!(
            registry.publish("live", "cam", 2).err(),
            Some(PublishError::BadName("cam".into()))
        );
        registry.unpublish("live", &stream, 2);
        assert!(stream.is_published());
        registry.unpublish("live", &stream, 1);
        assert!(!stream.is_published());
        assert!(registry.publish("live", "cam", 2).is_ok());
    }

    /// Everything a receiver can take now: events, pads left out, and losses.
    fn drain(rx: &mut broadcast::Receiver<LiveEvent>) -> (Vec<u8>, u64) {
        let (mut got, mut lost) = (Vec::new(), 0);
        loop {
            match rx.try_recv() {
                Ok(LiveEvent::Media(f)) => got.push(*f.payload.last().unwrap()),
                Ok(LiveEvent::Pad) | Ok(_) => {}
                Err(broadcast::error::TryRecvError::Lagged(n)) => lost += n,
                Err(_) => return (got, lost),
            }
        }
    }

    #[test]
    fn large_messages_take_ring_slots_by_size() {
        // 16 slots of 100 bytes each.
        let registry = Registry::new(16, 1600, 1 << 20);
        let stream = registry.publish("live", "cam", 1).unwrap();
        let (_, mut rx) = stream.subscribe();
        // Sixteen small frames fit, as they always did.
        for i in 0..16 {
            stream.push_media(frame(MediaKind::Audio, i, &[0xAF, 1, i as u8]));
        }
        assert_eq!(drain(&mut rx), ((0..16).collect(), 0));
        // Four 450-byte frames take 5 slots each: 20 slots, more than the ring holds.
        for i in 0..4u8 {
            let mut body = vec![0x27; 450];
            body[449] = i;
            stream.push_media(frame(MediaKind::Video, 0, &body));
        }
        let (got, lost) = drain(&mut rx);
        assert_eq!(
            (got, lost),
            (vec![1, 2, 3], 4),
            "the first frame and its pads"
        );
        // One frame larger than the whole budget still arrives: it never takes every slot.
        let mut huge = vec![0x17; 10_000];
        huge[9_999] = 9;
        stream.push_media(frame(MediaKind::Video, 0, &huge));
        assert_eq!(drain(&mut rx), (vec![9], 0));
        // A large data message is weighed too.
        let values = vec!["onTextData".into(), "x".repeat(2_000).into()];
        stream.push_data(Arc::new(SharedData::new(
            Timestamp(0),
            Arc::new(values),
            4096,
        )));
        let (_, lost) = drain(&mut rx);
        assert_eq!(lost, 0);
        assert_eq!(RingLimits::new(16, 1600).slots_for(2_016), 16);
    }

    #[test]
    fn an_oversized_gop_is_dropped_until_the_next_keyframe() {
        let registry = Registry::new(16, 16 << 20, 100);
        let stream = registry.publish("live", "cam", 1).unwrap();
        stream.push_media(frame(MediaKind::Video, 0, &[0x17, 1, 0, 0, 0]));
        stream.push_media(frame(MediaKind::Video, 33, &[0x27; 200]));
        stream.push_media(frame(MediaKind::Video, 66, &[0x27, 1]));
        assert!(stream.subscribe().0.gop.is_empty());
        stream.push_media(frame(MediaKind::Video, 99, &[0x17, 1, 0, 0, 0]));
        assert_eq!(stream.subscribe().0.gop.len(), 1);
    }
}
