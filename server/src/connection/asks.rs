//! Actions that wait for a backend: connect, publish and play in an application with
//! on_connect / on_publish / on_play callbacks. The callback runs as a task of the
//! connection ([`crate::hooks`]), so the connection keeps serving its other streams; its
//! answer comes back as [`super::Work::Ask`] and the action goes on (or is refused) there.
//! A new command on the same stream, or closing it, forgets the pending one.

use rtmpws_protocol::server::{ConnectRequest, PlayRequest, PublishMode};
use rtmpws_protocol::status::{Info, Status};
use rtmpws_protocol::StreamId;
use tracing::info;

use super::Connection;
use crate::hooks::{self, Answer, Call};
use crate::metrics::{Action, Reason};
use crate::names::StreamName;
use crate::relay;
use crate::roles::Role;

/// What waits for a callback's answer.
pub enum Asked {
    Connect(ConnectRequest),
    Publish {
        stream_id: StreamId,
        name: StreamName,
        mode: PublishMode,
    },
    Play {
        stream_id: StreamId,
        request: PlayRequest,
    },
}

/// A callback's answer, with what it was about.
pub struct Asking {
    pub asked: Asked,
    pub answer: Answer,
}

impl Connection {
    /// Asks the backend at `url` about `asked` with the call's own `fields`; the answer
    /// arrives as work.
    pub(super) fn ask(
        &mut self,
        url: String,
        call: Call,
        fields: &[(&str, String)],
        query: Option<&str>,
        asked: Asked,
    ) {
        let form = hooks::form(call, &self.client, fields, query);
        let stream = match &asked {
            Asked::Connect(_) => None,
            Asked::Publish { stream_id, .. } | Asked::Play { stream_id, .. } => Some(*stream_id),
        };
        let gateway = std::sync::Arc::clone(&self.gateway);
        let task = self.asks.spawn(async move {
            let answer = gateway.hooks.ask(&url, form).await;
            Asking { asked, answer }
        });
        if let Some(stream_id) = stream {
            if let Some(earlier) = self.waiting.insert(stream_id, task) {
                earlier.abort();
            }
        }
    }

    /// Forgets what `stream_id` waits for, if anything.
    pub(super) fn forget_ask(&mut self, stream_id: StreamId) {
        if let Some(task) = self.waiting.remove(&stream_id) {
            task.abort();
        }
    }

    /// A callback answered (or its task was cancelled, which says nothing).
    pub(super) fn answered(&mut self, done: Result<Asking, tokio::task::JoinError>) {
        let Ok(Asking { asked, answer }) = done else {
            return;
        };
        match asked {
            Asked::Connect(request) => match answer {
                Answer::Allow | Answer::Rename(_) | Answer::Relay(_) => {
                    self.accept_connect(request)
                }
                Answer::Refuse(why) => {
                    info!(id = self.id, app = %request.app, "connect refused by on_connect: {why}");
                    self.gateway.metrics.refused(Action::Connect, Reason::Auth);
                    self.session
                        .reject_connect(&format!("Connection refused: {why}."));
                }
            },
            Asked::Publish {
                stream_id,
                name,
                mode,
            } => {
                self.waiting.remove(&stream_id);
                match answer {
                    Answer::Allow => self.start_publish(stream_id, name, mode),
                    Answer::Rename(new) => {
                        info!(id = self.id, from = name.key(), to = %new, "publish renamed by on_publish");
                        self.start_publish(stream_id, StreamName::parse(&new), mode)
                    }
                    Answer::Relay(url) => {
                        info!(id = self.id, name = name.key(), to = %url, "publish pushed by on_publish");
                        self.start_publish(stream_id, name, mode);
                        let app = self.app().to_owned();
                        if let Some(Role::Publishing(publisher)) = self.roles.get_mut(&stream_id) {
                            let (name, stream) = (&publisher.name, &publisher.stream);
                            publisher
                                .pushes
                                .add(&self.gateway, &app, name, stream, *url);
                        }
                    }
                    Answer::Refuse(why) => {
                        info!(
                            id = self.id,
                            name = name.key(),
                            "publish refused by on_publish: {why}"
                        );
                        self.gateway.metrics.refused(Action::Publish, Reason::Auth);
                        let info = Info::new(
                            Status::NetStreamPublishBadName,
                            format!("Cannot publish {}: {why}.", name.key()),
                        )
                        .details(name.key());
                        self.session.send_status(stream_id, info);
                    }
                }
            }
            Asked::Play {
                stream_id,
                mut request,
            } => {
                self.waiting.remove(&stream_id);
                match answer {
                    Answer::Allow => self.route(stream_id, request),
                    Answer::Rename(new) => {
                        info!(id = self.id, from = %request.name, to = %new, "play renamed by on_play");
                        request.name = new;
                        self.route(stream_id, request)
                    }
                    Answer::Relay(url) => {
                        let name = StreamName::parse(&request.name);
                        info!(id = self.id, name = name.key(), from = %url, "play pulled by on_play");
                        let query = self.connect_query();
                        relay::pull(&self.gateway, self.app(), &name, vec![*url], query);
                        self.play_live(stream_id, &name, request.reset)
                    }
                    Answer::Refuse(why) => {
                        let name = StreamName::parse(&request.name);
                        info!(
                            id = self.id,
                            name = name.key(),
                            "play refused by on_play: {why}"
                        );
                        self.gateway.metrics.refused(Action::Play, Reason::Auth);
                        let info = Info::new(
                            Status::NetStreamPlayFailed,
                            format!("Cannot play {}: {why}.", name.key()),
                        )
                        .details(name.key());
                        self.session.send_status(stream_id, info);
                    }
                }
            }
        }
    }

    /// Tells the application's callback at `url` that something ended.
    pub(super) fn tell(
        &self,
        url: Option<&String>,
        call: Call,
        fields: &[(&str, String)],
        query: Option<&str>,
    ) {
        if let Some(url) = url {
            let form = hooks::form(call, &self.client, fields, query);
            self.gateway.hooks.tell(url, form);
        }
    }
}
