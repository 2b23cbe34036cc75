//! Publishing: `publish(name, type)`, the publisher's media and data, Publish.Idle, and the
//! end of a publish (Record.Stop and Unpublish.Success once its recording is final).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtmpws_protocol::amf::Value;
use rtmpws_protocol::server::PublishMode;
use rtmpws_protocol::status::{Info, Status};
use rtmpws_protocol::{MediaKind, StreamId, Timestamp};
use tracing::{debug, info};

use super::asks::Asked;
use super::Connection;
use crate::hooks::Call;
use crate::live::MediaFrame;
use crate::metrics::{Action, Reason};
use crate::names::StreamName;
use crate::policy::Decision;
use crate::relay::Pushes;
use crate::roles::{FeedStream, Publisher, Role, Unpublishing};
use crate::signing::unix_now;

impl Connection {
    pub(super) fn publish(&mut self, stream_id: StreamId, name: String, mode: PublishMode) {
        if let Some(Role::Unpublishing(unpublishing)) = self.roles.get_mut(&stream_id) {
            unpublishing.next = Some((name, mode));
            return;
        }
        if self.stopping {
            let info = Info::new(
                Status::NetStreamFailed,
                format!("Cannot publish {name}: the server is shutting down."),
            );
            return self.session.send_status(stream_id, info.details(&name));
        }
        self.close_stream(stream_id, false);
        self.refresh_settings();
        let name = StreamName::parse(&name);
        let key = name.key();
        if let Decision::Deny(why) = self.settings.policy.publish(self.app(), &name, unix_now()) {
            self.gateway.metrics.refused(Action::Publish, Reason::Auth);
            info!(
                id = self.id,
                app = self.app(),
                name = key,
                "publish refused: {why}"
            );
            let info = Info::new(Status::NetStreamPublishBadName, why).details(key);
            return self.session.send_status(stream_id, info);
        }
        match self.rules().and_then(|app| app.on_publish.clone()) {
            Some(url) => {
                let fields = [("name", key.to_owned()), ("type", mode_word(mode).into())];
                let query = name.query().map(str::to_owned);
                let asked = Asked::Publish {
                    stream_id,
                    name,
                    mode,
                };
                self.ask(url, Call::Publish, &fields, query.as_deref(), asked);
            }
            None => self.start_publish(stream_id, name, mode),
        }
    }

    /// A publish the rules and the callback allowed: the live stream is this client's now,
    /// unless someone else publishes it.
    pub(super) fn start_publish(
        &mut self,
        stream_id: StreamId,
        name: StreamName,
        mode: PublishMode,
    ) {
        let key = name.key();
        match self.gateway.registry.publish(self.app(), key, self.id) {
            Ok(stream) => {
                info!(
                    id = self.id,
                    app = self.app(),
                    name = key,
                    ?mode,
                    "publishing"
                );
                self.session.begin_publish(stream_id, key);
                let recorder = if self.settings.policy.wants_recording(self.app(), mode) {
                    self.start_recording(stream_id, &name, mode)
                } else {
                    None
                };
                let mut publisher = Publisher::new(stream, key.to_owned(), recorder);
                publisher.pushes = Pushes::start(&self.gateway, self.app(), key, &publisher.stream);
                self.roles.insert(stream_id, Role::Publishing(publisher));
                self.report_uses();
            }
            Err(e) => {
                info!(id = self.id, name = key, "publish refused: {e}");
                self.gateway.metrics.refused(Action::Publish, Reason::InUse);
                self.session
                    .send_status(stream_id, Status::NetStreamPublishBadName.info(key));
            }
        }
    }

    /// Media from a publisher: to subscribers and the recorder. Media after Publish.Idle
    /// publishes the stream again.
    pub(super) fn publisher_media(
        &mut self,
        stream_id: StreamId,
        timestamp: Timestamp,
        kind: MediaKind,
        payload: Bytes,
    ) {
        if !self.resume_if_idle(stream_id) {
            return;
        }
        let Some(Role::Publishing(publisher)) = self.roles.get_mut(&stream_id) else {
            return;
        };
        let frame = MediaFrame::new(kind, timestamp, payload, self.session.chunk_size());
        publisher.media(Arc::new(frame));
    }

    pub(super) fn publisher_data(
        &mut self,
        stream_id: StreamId,
        timestamp: Timestamp,
        values: Vec<Value>,
    ) {
        let handler = values.first().and_then(Value::as_str).unwrap_or_default();
        if let Decision::Deny(why) = self.settings.policy.relay_data(handler) {
            return debug!(id = self.id, "data message not relayed: {why}");
        }
        if let Some(Role::Publishing(publisher)) = self.roles.get_mut(&stream_id) {
            publisher.data(timestamp, values, self.session.chunk_size());
        }
    }

    /// An idle publisher that sends media again takes its stream back (Publish.Start), unless
    /// someone else took the name meanwhile (Publish.BadName, and its publish ends). False
    /// when `stream_id` publishes nothing (any more).
    fn resume_if_idle(&mut self, stream_id: StreamId) -> bool {
        let app = self.app().to_owned();
        let Some(Role::Publishing(publisher)) = self.roles.get_mut(&stream_id) else {
            return false;
        };
        if !publisher.idle {
            return true;
        }
        let name = publisher.name.clone();
        match self.gateway.registry.publish(&app, &name, self.id) {
            Ok(stream) => {
                publisher.stream = stream;
                publisher.idle = false;
                info!(id = self.id, name = %name, "publishing again after idling");
                self.session
                    .send_status(stream_id, Status::NetStreamPublishStart.info(&name));
                true
            }
            Err(_) => {
                self.session
                    .send_status(stream_id, Status::NetStreamPublishBadName.info(&name));
                self.close_stream(stream_id, false);
                false
            }
        }
    }

    /// Whether any stream of this connection publishes (and so needs the idle check).
    pub fn is_publishing(&self) -> bool {
        self.roles
            .values()
            .any(|role| matches!(role, Role::Publishing(_)))
    }

    /// Publishers that sent no media for `publish_idle_secs` get Publish.Idle and their stream
    /// is unpublished, so subscribers are not left waiting on a silent stream.
    pub fn check_idle(&mut self) {
        let limit = Duration::from_secs(self.settings.config.publish_idle_secs);
        let app = self.app.clone().unwrap_or_default();
        for (stream_id, role) in &mut self.roles {
            let Role::Publishing(publisher) = role else {
                continue;
            };
            if !publisher.goes_idle(limit) {
                continue;
            }
            publisher.idle = true;
            info!(id = self.id, name = %publisher.name, "publisher idle");
            let info = Info::new(
                Status::NetStreamPublishIdle,
                format!(
                    "{} sent no media for {} s; it is unpublished until media resumes.",
                    publisher.name,
                    limit.as_secs()
                ),
            )
            .details(&publisher.name);
            self.session.send_status(*stream_id, info);
            self.gateway
                .registry
                .unpublish(&app, &publisher.stream, self.id);
        }
    }

    /// The publish on `stream_id` ends. With a recording and `notify`, the stream waits as
    /// [`Unpublishing`] for the recorder's last word (its `feed`) before the statuses.
    pub(super) fn end_publish(
        &mut self,
        stream_id: StreamId,
        publisher: Publisher,
        feed: Option<FeedStream>,
        notify: bool,
    ) {
        let Publisher {
            stream,
            name,
            recorder,
            ..
        } = publisher;
        self.gateway
            .registry
            .unpublish(self.app.as_deref().unwrap_or_default(), &stream, self.id);
        info!(id = self.id, name = %name, "unpublished");
        let url = self.rules().and_then(|app| app.on_publish_done.as_ref());
        self.tell(url, Call::PublishDone, &[("name", name.clone())], None);
        match (recorder, feed) {
            (Some(recorder), Some(feed)) if notify => {
                // The recorder's events keep coming until it reports the file final.
                recorder.stop();
                self.feeds.insert(stream_id, feed);
                let unpublishing = Unpublishing { name, next: None };
                self.roles
                    .insert(stream_id, Role::Unpublishing(unpublishing));
            }
            (Some(recorder), _) => {
                recorder.stop();
                if notify {
                    self.send_unpublished(stream_id, &name);
                }
            }
            (None, _) => {
                if notify {
                    self.session
                        .send_status(stream_id, Status::NetStreamUnpublishSuccess.info(&name));
                }
            }
        }
    }

    /// The end of a recording publish: Record.Stop, then Unpublish.Success.
    pub(super) fn send_unpublished(&mut self, stream_id: StreamId, name: &str) {
        self.session
            .send_status(stream_id, Status::NetStreamRecordStop.info(name));
        self.session
            .send_status(stream_id, Status::NetStreamUnpublishSuccess.info(name));
    }

    /// Whether a publish is waiting for its recording to be final.
    pub(super) fn is_unpublishing(&self) -> bool {
        self.roles
            .values()
            .any(|role| matches!(role, Role::Unpublishing(_)))
    }
}

/// `publish`'s type argument, as callbacks are told it.
fn mode_word(mode: PublishMode) -> &'static str {
    match mode {
        PublishMode::Live => "live",
        PublishMode::Record => "record",
        PublishMode::Append => "append",
        PublishMode::AppendWithGap => "appendWithGap",
    }
}
