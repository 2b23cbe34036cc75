//! A subscriber of a live stream: what it wants (audio, video, paused), what it was last
//! told (published or not), and what it has lost. How loss is answered is [`crate::lag`].

use std::sync::Arc;

use rtmpws_protocol::message::UserControl;
use rtmpws_protocol::server::{ServerSession, SharedData};
use rtmpws_protocol::status::Status;
use rtmpws_protocol::{MediaKind, StreamId};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;
use tracing::warn;

use super::{Feed, FeedStream};
use crate::lag::{LagPolicy, LagState, LagVerdict};
use crate::live::{LiveEvent, LiveStream, MediaFrame, Snapshot};

/// What one player can take, decided once per play: a legacy player (no Enhanced RTMP in its
/// connect) gets only legacy tags; `?track=N` / `?audioTrack=N` pick one track of a multitrack
/// stream. Per frame it is a flag test and a byte compare against what
/// [`MediaFrame::new`] computed once for every subscriber.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    pub legacy: bool,
    pub video_track: Option<u8>,
    pub audio_track: Option<u8>,
}

impl Delivery {
    pub fn wants(&self, frame: &MediaFrame) -> bool {
        if self.legacy && frame.enhanced {
            return false;
        }
        let track = match frame.kind {
            MediaKind::Audio => self.audio_track,
            MediaKind::Video => self.video_track,
        };
        // A message with several tracks (frame.track None) goes whole: the player picks.
        !matches!((track, frame.track), (Some(want), Some(got)) if want != got)
    }
}

pub struct Subscriber {
    pub stream: Arc<LiveStream>,
    pub name: String,
    paused: bool,
    audio: bool,
    video: bool,
    /// After losing messages (or turning video back on), wait for a keyframe so the decoder
    /// never sees a frame whose references are missing.
    await_keyframe: bool,
    pub lag: LagState,
    /// What the subscriber was last told: published (snapshot or PublishNotify) or not.
    pub published: bool,
    pub delivery: Delivery,
    /// A legacy player has been sent a legacy frame of this publication, or told that there
    /// is none (NetStream.Play.NoSupportedTrackFound).
    legacy_seen: bool,
    told_unsupported: bool,
    /// Video of this publication reached this player: after a loss it waits for a video
    /// keyframe. A player that gets no video (an enhanced picture a legacy player cannot
    /// take, or an audio-only stream) goes on at once with the next audio.
    video_delivered: bool,
}

impl Subscriber {
    /// Subscribes on `stream_id`: the session is told what the stream holds now (metadata,
    /// headers, the GOP), and the returned feed brings everything after it.
    pub fn start(
        session: &mut ServerSession,
        stream_id: StreamId,
        stream: Arc<LiveStream>,
        reset: bool,
        delivery: Delivery,
    ) -> (Subscriber, FeedStream) {
        let (snapshot, feed) = stream.subscribe();
        session.begin_play(stream_id, &stream.name, reset, false);
        let mut subscriber = Subscriber {
            name: stream.name.clone(),
            stream,
            paused: false,
            audio: true,
            video: true,
            await_keyframe: false,
            lag: LagState::default(),
            published: snapshot.published,
            delivery,
            legacy_seen: false,
            told_unsupported: false,
            video_delivered: false,
        };
        subscriber.send_snapshot(session, stream_id, &snapshot);
        (subscriber, live_feed(feed))
    }

    /// Sends `frame` if this player can take it. A legacy player offered only enhanced media
    /// hears NetStream.Play.NoSupportedTrackFound once per publication, at the first coded
    /// frame (by then the sequence headers of every track have gone by), and never a byte of
    /// an enhanced tag.
    fn deliver(&mut self, session: &mut ServerSession, stream_id: StreamId, frame: &MediaFrame) {
        if !self.delivery.wants(frame) {
            if self.delivery.legacy
                && frame.enhanced
                && !frame.sequence_header
                && !self.legacy_seen
                && !self.told_unsupported
            {
                self.told_unsupported = true;
                session.send_status(
                    stream_id,
                    Status::NetStreamPlayNoSupportedTrackFound.info(&self.name),
                );
            }
            return;
        }
        self.legacy_seen = true;
        self.video_delivered |= frame.kind == MediaKind::Video;
        send_frame(session, stream_id, frame);
    }

    /// What a joining subscriber needs first: metadata, sequence headers, the current GOP.
    fn send_snapshot(
        &mut self,
        session: &mut ServerSession,
        stream_id: StreamId,
        snapshot: &Snapshot,
    ) {
        if let Some(metadata) = &snapshot.metadata {
            send_data(session, stream_id, metadata);
        }
        let frames = snapshot
            .audio_header
            .iter()
            .chain(&snapshot.video_header)
            .chain(&snapshot.track_headers)
            .chain(&snapshot.gop);
        for frame in frames {
            self.deliver(session, stream_id, frame);
        }
    }

    /// One event of the live stream; `Some(reason)` when the connection must end.
    pub fn on_live(
        &mut self,
        session: &mut ServerSession,
        stream_id: StreamId,
        event: Result<LiveEvent, BroadcastStreamRecvError>,
        lag: &LagPolicy,
    ) -> Option<String> {
        let event = match event {
            Ok(event) => event,
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                // Behind by a whole queue: skip to the next keyframe instead of buffering.
                self.await_keyframe = true;
                return match lag.lost(&mut self.lag, missed, &self.name, std::time::Instant::now())
                {
                    LagVerdict::Quiet => None,
                    LagVerdict::Warn(info) => {
                        session.send_status(stream_id, info);
                        None
                    }
                    LagVerdict::Disconnect(why) => Some(why),
                };
            }
        };
        match event {
            LiveEvent::Media(frame) => {
                if self.paused {
                    return None;
                }
                let wanted = match frame.kind {
                    MediaKind::Audio => self.audio,
                    MediaKind::Video => self.video,
                };
                if !wanted && !frame.sequence_header {
                    return None;
                }
                if !self.delivery.wants(&frame) {
                    // Not this player's (another track, or enhanced for a legacy player).
                    self.deliver(session, stream_id, &frame);
                    return None;
                }
                if self.await_keyframe && !frame.sequence_header {
                    let resumes = match frame.kind {
                        MediaKind::Video => frame.keyframe,
                        MediaKind::Audio => !self.video_delivered,
                    };
                    if resumes {
                        self.await_keyframe = false;
                    } else {
                        self.lag.dropped += 1;
                        return None;
                    }
                }
                self.deliver(session, stream_id, &frame);
            }
            LiveEvent::Data(data) => {
                if !self.paused {
                    send_data(session, stream_id, &data);
                }
            }
            LiveEvent::Published => {
                self.await_keyframe = false;
                self.legacy_seen = false;
                self.told_unsupported = false;
                self.video_delivered = false;
                self.published = true;
                session.send_status(
                    stream_id,
                    Status::NetStreamPlayPublishNotify.info(&self.name),
                );
            }
            LiveEvent::Pad => {}
            LiveEvent::Unpublished => {
                self.published = false;
                session.send_status(
                    stream_id,
                    Status::NetStreamPlayUnpublishNotify.info(&self.name),
                );
            }
        }
        None
    }

    /// Pause on a live stream: media stops; on resume the subscriber rejoins at the live edge,
    /// with a fresh snapshot rather than what it missed, through the returned feed.
    pub fn pause(
        &mut self,
        session: &mut ServerSession,
        stream_id: StreamId,
        pause: bool,
    ) -> Option<FeedStream> {
        self.paused = pause;
        if pause {
            session.send_user_control(UserControl::StreamEof(stream_id));
            session.send_status(stream_id, Status::NetStreamPauseNotify.info(&self.name));
            return None;
        }
        let (snapshot, feed) = self.stream.subscribe();
        session.send_user_control(UserControl::StreamBegin(stream_id));
        session.send_status(stream_id, Status::NetStreamUnpauseNotify.info(&self.name));
        session.send_status(stream_id, Status::NetStreamPlayStart.info(&self.name));
        self.send_snapshot(session, stream_id, &snapshot);
        Some(live_feed(feed))
    }

    pub fn receive_audio(&mut self, enabled: bool) {
        self.audio = enabled;
    }

    pub fn receive_video(&mut self, enabled: bool) {
        self.await_keyframe |= enabled && !self.video;
        self.video = enabled;
    }
}

fn live_feed(receiver: tokio::sync::broadcast::Receiver<LiveEvent>) -> FeedStream {
    Box::pin(BroadcastStream::new(receiver).map(Feed::Live))
}

/// A data message, encoded once for every subscriber.
fn send_data(session: &mut ServerSession, stream_id: StreamId, data: &SharedData) {
    if let Err(e) = session.send_shared_data(stream_id, data) {
        warn!(%stream_id, "cannot send data: {e}");
    }
}

/// A media message, already chunked for every subscriber.
pub fn send_frame(session: &mut ServerSession, stream_id: StreamId, frame: &MediaFrame) {
    if let Err(e) = session.send_media(stream_id, &frame.chunks) {
        warn!(%stream_id, "cannot send media: {e}");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use rtmpws_protocol::server::ServerConfig;
    use rtmpws_protocol::Timestamp;

    use super::*;
    use crate::live::Registry;

    /// A server session with a connected client that created stream 1.
    fn session_with_a_stream() -> ServerSession {
        use rtmpws_protocol::amf::Value;
        use rtmpws_protocol::client::{ClientConfig, ClientSession};
        let mut server = ServerSession::new(ServerConfig::default());
        let mut client = ClientSession::new(ClientConfig::default());
        let exchange = |server: &mut ServerSession, client: &mut ClientSession| {
            for _ in 0..8 {
                let to_server = client.take_output();
                if !to_server.is_empty() {
                    server.handle_input(&to_server).unwrap();
                }
                while let Some(event) = server.poll_event() {
                    if matches!(
                        event,
                        rtmpws_protocol::server::ServerEvent::ConnectRequested(_)
                    ) {
                        server.accept_connect("1");
                    }
                }
                let mut to_client = Vec::new();
                server.drain_output(&mut to_client);
                if !to_client.is_empty() {
                    client.handle_input(&to_client.concat()).unwrap();
                }
            }
        };
        exchange(&mut server, &mut client);
        client.connect(Value::object([("app", Value::from("live"))]), vec![]);
        exchange(&mut server, &mut client);
        client.create_stream();
        exchange(&mut server, &mut client);
        server
    }

    fn written(session: &mut ServerSession) -> usize {
        let mut out = Vec::new();
        session.drain_output(&mut out);
        out.iter().map(Bytes::len).sum()
    }

    #[test]
    fn a_legacy_player_without_video_it_can_take_resumes_with_the_audio_after_a_loss() {
        let registry = Registry::new(16, 1 << 20, 1 << 20);
        let stream = registry.publish("live", "mixed", 1).unwrap();
        let mut session = session_with_a_stream();
        let legacy = Delivery {
            legacy: true,
            video_track: None,
            audio_track: None,
        };
        let id = StreamId(1);
        let (mut subscriber, _feed) = Subscriber::start(&mut session, id, stream, true, legacy);
        written(&mut session);
        let lag = LagPolicy {
            warn_every: Duration::from_secs(60),
            max_dropped: 1000,
        };
        let frame = |kind, payload: &'static [u8]| {
            let frame = MediaFrame::new(kind, Timestamp(40), Bytes::from_static(payload), 4096);
            Ok(LiveEvent::Media(Arc::new(frame)))
        };
        // HEVC in an ExVideoTagHeader (CodedFrames, keyframe), AAC raw audio.
        let hevc = frame(MediaKind::Video, b"\x91hvc1\x00\x00\x00\x01\x02\x03");
        let aac = || frame(MediaKind::Audio, b"\xAF\x01\x21\x10");
        assert!(subscriber.on_live(&mut session, id, aac(), &lag).is_none());
        assert!(
            written(&mut session) > 0,
            "the audio reaches the legacy player"
        );
        subscriber.on_live(&mut session, id, hevc, &lag);
        assert_eq!(written(&mut session), 0, "never an enhanced byte");
        subscriber.on_live(
            &mut session,
            id,
            Err(BroadcastStreamRecvError::Lagged(3)),
            &lag,
        );
        written(&mut session);
        // No video keyframe will ever come for this player: the audio goes on at once.
        subscriber.on_live(&mut session, id, aac(), &lag);
        assert!(written(&mut session) > 0, "audio after the loss");
    }
}
