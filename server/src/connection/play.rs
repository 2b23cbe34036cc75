//! Playing: `play` routed to a live stream or a recorded item, `play2`, and the commands
//! that steer a playing stream (pause, seek, receiveAudio/receiveVideo).

use std::sync::Arc;
use std::time::Duration;

use rtmpws_protocol::amf::Value;
use rtmpws_protocol::server::PlayRequest;
use rtmpws_protocol::status::{Info, Status};
use rtmpws_protocol::StreamId;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tracing::{info, warn};

use super::asks::Asked;
use super::Connection;
use crate::hooks::Call;
use crate::live::LiveEvent;
use crate::metrics::{Action, Reason};
use crate::names::StreamName;
use crate::policy::Decision;
use crate::relay;
use crate::roles::{Delivery, Feed, RecordedPlayer, Role, Subscriber};
use crate::routing::{route_play, PlayRoute, Recorded};
use crate::signing::unix_now;
use crate::vod::{self, LookupError, PlayItem, Transition, VodControl, VodEvent};

impl Connection {
    /// `play(name, start, len, reset)`: the rules, then the on_play callback, then
    /// [`Self::route`].
    pub(super) fn play(&mut self, stream_id: StreamId, request: PlayRequest) {
        self.refresh_settings();
        let name = StreamName::parse(&request.name);
        if let Decision::Deny(why) = self.settings.policy.play(self.app(), &name, unix_now()) {
            self.gateway.metrics.refused(Action::Play, Reason::Auth);
            info!(
                id = self.id,
                app = self.app(),
                name = name.key(),
                "play refused: {why}"
            );
            let info = Info::new(Status::NetStreamPlayFailed, why).details(name.key());
            return self.session.send_status(stream_id, info);
        }
        match self.rules().and_then(|app| app.on_play.clone()) {
            Some(url) => {
                let fields = [
                    ("name", name.key().to_owned()),
                    ("start", request.start.to_string()),
                    ("duration", request.len.to_string()),
                    ("reset", u8::from(request.reset).to_string()),
                ];
                let asked = Asked::Play {
                    stream_id,
                    request: request.clone(),
                };
                self.ask(url, Call::Play, &fields, name.query(), asked);
            }
            None => self.route(stream_id, request),
        }
    }

    /// A play the rules and the callback allowed, routed as [`crate::routing`] says.
    pub(super) fn route(&mut self, stream_id: StreamId, request: PlayRequest) {
        let name = StreamName::parse(&request.name);
        let playing_recorded = matches!(self.roles.get(&stream_id), Some(Role::PlayingRecorded(_)));
        let published = self.gateway.registry.is_published(self.app(), name.key());
        let library = &self.gateway.library;
        let app = self.app();
        let route = route_play(&request, playing_recorded, published, || {
            match library.resolve(app, &request.name) {
                Ok(_) => Recorded::Found,
                Err(LookupError::NotFound(_)) => Recorded::Missing,
                Err(LookupError::BadName(_)) => Recorded::BadName,
            }
        });
        match route {
            PlayRoute::Queue(item) => {
                // A missing item is reported when its turn comes.
                self.forward_to_recorded(stream_id, VodControl::Play { item, reset: false });
            }
            PlayRoute::Recorded { item, reset } => {
                self.start_recorded(stream_id, &request.name, VodControl::Play { item, reset })
            }
            PlayRoute::Live { reset, waiting } => {
                if waiting {
                    // An edge: a name nobody publishes here is pulled from an origin.
                    let origins = relay::pull::origins_of(&self.gateway, self.app());
                    let query = self.connect_query();
                    relay::pull(&self.gateway, self.app(), &name, origins, query);
                }
                self.play_live(stream_id, &name, reset)
            }
            PlayRoute::NotFound => self.session.send_status(
                stream_id,
                Status::NetStreamPlayStreamNotFound.info(&request.name),
            ),
        }
    }

    pub(super) fn play_live(&mut self, stream_id: StreamId, name: &StreamName, reset: bool) {
        self.close_stream(stream_id, false);
        let stream = self.gateway.registry.stream(self.app(), name.key());
        let delivery = Delivery {
            legacy: self.session.enhanced_caps().is_none(),
            video_track: name.track_param("track"),
            audio_track: name.track_param("audioTrack"),
        };
        let (subscriber, feed) =
            Subscriber::start(&mut self.session, stream_id, stream, reset, delivery);
        info!(
            id = self.id,
            app = self.app(),
            name = name.key(),
            published = subscriber.published,
            "playing live"
        );
        self.feeds.insert(stream_id, feed);
        self.roles.insert(stream_id, Role::Subscribing(subscriber));
        self.report_uses();
    }

    /// The query the client connected with (a token in its tcUrl), passed on to origins.
    pub(super) fn connect_query(&self) -> Option<String> {
        let (_, query) = self.client.tcurl.split_once('?')?;
        Some(query.to_owned()).filter(|q| !q.is_empty())
    }

    /// Replaces what `stream_id` does with a recorded-item player, and gives it `control`.
    fn start_recorded(&mut self, stream_id: StreamId, name: &str, control: VodControl) {
        self.close_stream(stream_id, false);
        let lead = Duration::from_millis(self.settings.config.vod_lead_ms);
        let (player, events) = vod::spawn(
            Arc::clone(&self.gateway.library),
            self.app().to_owned(),
            stream_id,
            lead,
            self.settings.config.max_playlist_items,
        );
        player.send(control);
        info!(id = self.id, app = self.app(), name, "playing recorded");
        self.feeds.insert(
            stream_id,
            Box::pin(ReceiverStream::new(events).map(Feed::Recorded)),
        );
        let player = RecordedPlayer::new(player, name.to_owned());
        self.roles.insert(stream_id, Role::PlayingRecorded(player));
        self.report_uses();
    }

    /// Passes a command to the recorded-item player of `stream_id`; false if there is none.
    fn forward_to_recorded(&mut self, stream_id: StreamId, control: VodControl) -> bool {
        match self.roles.get(&stream_id) {
            Some(Role::PlayingRecorded(player)) => {
                if !player.control(control) {
                    warn!(id = self.id, "recorded player flooded; command dropped");
                }
                true
            }
            _ => false,
        }
    }

    /// `play2(NetStreamPlayOptions)`: transitions between recorded items.
    pub(super) fn play2(&mut self, stream_id: StreamId, options: &Value) {
        self.refresh_settings();
        let name = options.get_str("streamName").unwrap_or_default().to_owned();
        let transition = options.get_str("transition").unwrap_or("switch");
        let failed = |why: String| Info::new(Status::NetStreamPlayFailed, why).details(&name);
        let Some(transition) = Transition::parse(transition) else {
            let info = failed(format!("play2: unknown transition {transition:?}"));
            return self.session.send_status(stream_id, info);
        };
        if name.is_empty() && !matches!(transition, Transition::Stop | Transition::Resume) {
            return self
                .session
                .send_status(stream_id, failed("play2: streamName is missing".into()));
        }
        if let Decision::Deny(why) =
            self.settings
                .policy
                .play(self.app(), &StreamName::parse(&name), unix_now())
        {
            self.gateway.metrics.refused(Action::Play, Reason::Auth);
            return self.session.send_status(stream_id, failed(why));
        }
        let start = options.get_f64("start").unwrap_or(-2.0);
        let len = options.get_f64("len").unwrap_or(-1.0);
        let item = PlayItem::from_play(&name, start, len);
        let old_name = options.get_str("oldStreamName").map(str::to_owned);
        let control = VodControl::Play2 {
            item,
            old_name,
            transition,
        };
        if self.forward_to_recorded(stream_id, control.clone()) {
            return;
        }
        if matches!(
            transition,
            Transition::Reset | Transition::Append | Transition::AppendAndWait
        ) {
            self.start_recorded(stream_id, &name, control);
        } else {
            let info = failed(format!(
                "play2 {name}: no recorded stream is playing to transition from"
            ));
            self.session.send_status(stream_id, info);
        }
    }

    pub(super) fn pause(&mut self, stream_id: StreamId, pause: bool, position_ms: f64) {
        if self.forward_to_recorded(stream_id, VodControl::Pause { pause, position_ms }) {
            return;
        }
        let Some(Role::Subscribing(subscriber)) = self.roles.get_mut(&stream_id) else {
            let info = Info::new(
                Status::NetStreamFailed,
                "pause: nothing is playing on this stream",
            );
            return self.session.send_status(stream_id, info);
        };
        if let Some(feed) = subscriber.pause(&mut self.session, stream_id, pause) {
            self.feeds.insert(stream_id, feed);
        }
    }

    pub(super) fn seek(&mut self, stream_id: StreamId, position_ms: f64) {
        if self.forward_to_recorded(stream_id, VodControl::Seek { position_ms }) {
            return;
        }
        let name = self.stream_name(stream_id);
        let description = format!(
            "Seeking {position_ms} (stream ID: {stream_id}) failed: {name} is live and cannot seek."
        );
        self.session.send_status(
            stream_id,
            Info::new(Status::NetStreamSeekFailed, description).details(&name),
        );
    }

    pub(super) fn receive_audio(&mut self, stream_id: StreamId, enabled: bool) {
        if let Some(Role::Subscribing(subscriber)) = self.roles.get_mut(&stream_id) {
            subscriber.receive_audio(enabled);
        }
        self.forward_to_recorded(stream_id, VodControl::ReceiveAudio(enabled));
    }

    pub(super) fn receive_video(&mut self, stream_id: StreamId, enabled: bool) {
        if let Some(Role::Subscribing(subscriber)) = self.roles.get_mut(&stream_id) {
            subscriber.receive_video(enabled);
        }
        self.forward_to_recorded(stream_id, VodControl::ReceiveVideo(enabled));
    }

    pub(super) fn on_live(
        &mut self,
        stream_id: StreamId,
        event: Result<LiveEvent, BroadcastStreamRecvError>,
    ) {
        let Some(Role::Subscribing(subscriber)) = self.roles.get_mut(&stream_id) else {
            return;
        };
        let lag = &self.settings.lag;
        let (dropped, warnings) = (subscriber.lag.dropped, subscriber.lag.warnings);
        let verdict = subscriber.on_live(&mut self.session, stream_id, event, lag);
        // Two reads per message; the counters move only when something was lost.
        let lost = subscriber.lag.dropped.saturating_sub(dropped);
        if lost > 0 {
            self.entry
                .dropped
                .fetch_add(lost, std::sync::atomic::Ordering::Relaxed);
            self.gateway.metrics.dropped.inc_by(lost);
        }
        if subscriber.lag.warnings > warnings {
            self.gateway.metrics.insufficient_bw.inc();
        }
        if let Some(why) = verdict {
            self.gateway.metrics.slow_disconnects.inc();
            self.kick = Some(why);
        }
    }

    pub(super) fn on_recorded(&mut self, stream_id: StreamId, event: VodEvent) {
        if let Some(Role::PlayingRecorded(player)) = self.roles.get_mut(&stream_id) {
            player.relay(&mut self.session, stream_id, event);
        }
    }
}
