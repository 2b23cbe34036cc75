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
                if self.await_keyframe && !frame.sequence_header {
                    if frame.kind == MediaKind::Video && frame.keyframe {
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
