//! The recording of a publish: starting its recorder, and turning what the recorder reports
//! into Record.* statuses, in order with the publish's own.

use std::sync::Arc;

use rtmpws_protocol::server::PublishMode;
use rtmpws_protocol::status::{Info, Status};
use rtmpws_protocol::StreamId;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tracing::{info, warn};

use super::Connection;
use crate::hooks::Call;
use crate::metrics::{Action, Reason};
use crate::names::StreamName;
use crate::policy::Decision;
use crate::record::{record_path, Quota, RecordError, RecordEvent, Recorder};
use crate::roles::{Feed, Role};

impl Connection {
    /// Starts a recorder for a publish; Record.Start follows once the file is open.
    pub(super) fn start_recording(
        &mut self,
        stream_id: StreamId,
        name: &StreamName,
        mode: PublishMode,
    ) -> Option<Recorder> {
        let key = name.key();
        if let Decision::Deny(why) = self.settings.policy.record(self.app(), name) {
            self.gateway.metrics.refused(Action::Record, Reason::Auth);
            info!(id = self.id, name = key, "not recording: {why}");
            let info = Info::new(Status::NetStreamRecordNoAccess, why).details(key);
            self.session.send_status(stream_id, info);
            return None;
        }
        let config = &self.settings.config;
        let quota = Quota {
            max_bytes: config.record_max_bytes,
            max_duration_ms: config
                .record_max_secs
                .map(|s| u32::try_from(s.saturating_mul(1000)).unwrap_or(u32::MAX)),
            app_max_bytes: config.record_app_max_bytes,
        };
        let started = record_path(config.record_root(), self.app(), name).and_then(|target| {
            let library = Arc::clone(&self.gateway.library);
            let path = target.path.clone();
            Recorder::start(
                target,
                mode,
                quota,
                Arc::clone(&self.gateway.recordings),
                move |p| library.is_playing(p),
            )
            .map(|started| (started, path))
        });
        match started {
            Ok(((recorder, events), path)) => {
                self.gateway.metrics.recordings_started.inc();
                self.recording_paths.insert(stream_id, path);
                self.feeds.insert(
                    stream_id,
                    // A recorder that ends without a final word (it cannot, short of a
                    // bug) still ends the recording for the connection.
                    Box::pin(ReceiverStream::new(events).map(Feed::Recording).chain(
                        tokio_stream::once(Feed::Recording(RecordEvent::Failed(
                            "the recorder stopped without reporting why".into(),
                        ))),
                    )),
                );
                Some(recorder)
            }
            Err(e) => {
                let status = match e {
                    RecordError::AlreadyExists(_) => Status::NetStreamRecordAlreadyExists,
                    RecordError::BadName(_) | RecordError::InUse(_) => {
                        Status::NetStreamRecordNoAccess
                    }
                };
                info!(id = self.id, name = key, "not recording: {e}");
                self.session.send_status(
                    stream_id,
                    Info::new(status, format!("Cannot record {key}: {e}.")).details(key),
                );
                None
            }
        }
    }

    pub(super) fn on_recording(&mut self, stream_id: StreamId, event: RecordEvent) {
        let name = match self.roles.get(&stream_id) {
            Some(role @ (Role::Publishing(_) | Role::Unpublishing(_))) => role.name().to_owned(),
            _ => return,
        };
        let problem = |status: Status, why: &str| {
            Info::new(status, format!("{}: {why}", status.describe(&name))).details(&name)
        };
        let report = match &event {
            RecordEvent::Started => {
                // Also while Unpublishing: the recording did start, and its end follows.
                return self
                    .session
                    .send_status(stream_id, Status::NetStreamRecordStart.info(&name));
            }
            RecordEvent::Stopped => None,
            RecordEvent::NoAccess(why) => Some(problem(Status::NetStreamRecordNoAccess, why)),
            RecordEvent::QuotaExceeded(why) => {
                Some(problem(Status::NetStreamRecordDiskQuotaExceeded, why))
            }
            RecordEvent::Failed(why) => Some(problem(Status::NetStreamRecordFailed, why)),
        };
        if let Some(info) = report {
            self.session.send_status(stream_id, info);
        }
        // Every event but Started ends the recording.
        self.feeds.remove(&stream_id);
        let started = !matches!(event, RecordEvent::NoAccess(_));
        if let Some(path) = self.recording_paths.remove(&stream_id) {
            self.report_uses();
            if started {
                let url = self.rules().and_then(|app| app.on_record_done.as_ref());
                let fields = [("name", name.clone()), ("path", path.display().to_string())];
                self.tell(url, Call::RecordDone, &fields, None);
            }
        }
        match self.roles.get_mut(&stream_id) {
            Some(Role::Publishing(publisher)) => {
                // The recording is over; live publishing goes on.
                warn!(id = self.id, name = %name, "recording ended early");
                publisher.recorder = None;
                if matches!(event, RecordEvent::QuotaExceeded(_) | RecordEvent::Stopped) {
                    self.session
                        .send_status(stream_id, Status::NetStreamRecordStop.info(&name));
                }
            }
            Some(Role::Unpublishing(_)) => {
                let Some(Role::Unpublishing(unpublishing)) = self.roles.remove(&stream_id) else {
                    return;
                };
                if started {
                    self.session
                        .send_status(stream_id, Status::NetStreamRecordStop.info(&name));
                }
                self.session
                    .send_status(stream_id, Status::NetStreamUnpublishSuccess.info(&name));
                if let Some((name, mode)) = unpublishing.next {
                    self.publish(stream_id, name, mode);
                }
            }
            _ => {}
        }
    }
}
