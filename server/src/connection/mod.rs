//! One client connection as plain state: the protocol session, what each of its NetStreams
//! does ([`Role`]), and what feeds them. The connection driver ([`crate::driver`]) owns the
//! transport and the timers and calls in here; this side decides nothing about access
//! ([`crate::policy`]) or where a name leads ([`crate::routing`]) by itself, it asks.
//!
//! - [`publish`](self::publish): publish, media and data from publishers, Publish.Idle, the
//!   end of a publish.
//! - [`play`](self::play): play, play2, pause, seek, receiveAudio/receiveVideo.
//! - [`recording`](self::recording): a publish's recorder and what it reports.
//! - [`calls`](self::calls): calls answered with a value (getStreamLength).
//! - [`asks`](self::asks): actions waiting for an HTTP callback's answer.
//! - [`shared`](self::shared): shared objects, mail from other connections and the admin
//!   API, `NetConnection.call` to `call_url`, calls made on the client.

mod asks;
mod calls;
mod play;
mod publish;
mod recording;
mod shared;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt;
use rtmpws_protocol::message::UserControl;
use rtmpws_protocol::server::{ConnectRequest, ServerEvent, ServerSession};
use rtmpws_protocol::LinkError;
use rtmpws_protocol::StreamId;
use tokio::task::{AbortHandle, JoinSet};
use tokio_stream::{Stream, StreamExt, StreamMap};
use tracing::{debug, info};

use self::asks::{Asked, Asking};
use self::shared::{RemoteAnswer, SharedState};
use crate::apps::AppConfig;
use crate::clients::{ClientEntry, Mail};
use crate::gateway::Gateway;
use crate::hooks::{self, Call};
use crate::names::StreamName;
use crate::policy::Decision;
use crate::roles::{Feed, FeedStream, Role};
use crate::signing;

pub struct Connection {
    gateway: Arc<Gateway>,
    id: u64,
    session: ServerSession,
    app: Option<String>,
    roles: HashMap<StreamId, Role>,
    feeds: StreamMap<StreamId, FeedStream>,
    /// Set when the connection must end (a subscriber too far behind).
    kick: Option<String>,
    /// `getStreamLength` answers being worked out (a file's index may need a scan), and the
    /// transaction each task answers.
    lengths: JoinSet<f64>,
    length_calls: HashMap<tokio::task::Id, f64>,
    /// The gateway is shutting down: publishers that record stay until their files are
    /// final, and nothing new starts.
    stopping: bool,
    /// Who the client is, as HTTP callbacks are told.
    client: hooks::Client,
    /// Callbacks asked and not answered yet; the ones about a stream by stream.
    asks: JoinSet<Asking>,
    waiting: HashMap<StreamId, AbortHandle>,
    /// Files being recorded, for on_record_done.
    recording_paths: HashMap<StreamId, PathBuf>,
    /// Shared objects in use, the mailbox, calls both ways.
    shared: SharedState,
}

/// Something that arrived for the connection other than bytes from its client.
pub enum Work {
    Feed(StreamId, Feed),
    Length(Result<(tokio::task::Id, f64), tokio::task::JoinError>),
    Ask(Result<Asking, tokio::task::JoinError>),
    /// Mail from another connection or the admin API.
    Mail(Mail),
    /// call_url answered a `NetConnection.call`.
    Remote(Result<RemoteAnswer, tokio::task::JoinError>),
}

/// How many ready feed items one wake-up handles, so they go out in one write.
const FEED_BATCH: usize = 256;
/// A wake-up stops taking feed items once this much output is queued: larger writes gain
/// nothing, and recorded media is copied into the queue.
const FEED_BATCH_BYTES: usize = 1 << 20;

impl Connection {
    /// A connection from `peer` (`IP:PORT`, or `ws IP:PORT` over WebSocket).
    pub fn new(gateway: Arc<Gateway>, id: u64, peer: &str) -> Connection {
        let addr = peer.strip_prefix("ws ").unwrap_or(peer);
        let addr = addr
            .parse::<std::net::SocketAddr>()
            .map_or_else(|_| addr.to_owned(), |a| a.ip().to_string());
        Connection {
            client: hooks::Client {
                addr,
                clientid: id.to_string(),
                ..hooks::Client::default()
            },
            asks: JoinSet::new(),
            waiting: HashMap::new(),
            recording_paths: HashMap::new(),
            shared: SharedState::new(
                gateway.config.connection_mailbox,
                gateway.config.shared_object_updates_per_sec,
            ),
            session: ServerSession::new(gateway.session_config()),
            gateway,
            id,
            app: None,
            roles: HashMap::new(),
            feeds: StreamMap::new(),
            kick: None,
            lengths: JoinSet::new(),
            length_calls: HashMap::new(),
            stopping: false,
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Bytes from the client; the session's events are carried out at once.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.session.handle_input(bytes)?;
        self.handle_events();
        Ok(())
    }

    /// Whether the client's connect was accepted.
    pub fn is_connected(&self) -> bool {
        self.app.is_some()
    }

    /// Whether anything but the client can wake the connection (see [`Self::next_work`]).
    pub fn has_work(&self) -> bool {
        !self.feeds.is_empty()
            || !self.lengths.is_empty()
            || !self.asks.is_empty()
            // Mail may come for any connected client.
            || self.app.is_some()
    }

    /// The next feed item or finished call. Never ready while [`Self::has_work`] is false.
    pub async fn next_work(&mut self) -> Work {
        std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(Some((stream_id, feed))) =
                std::pin::Pin::new(&mut self.feeds).poll_next(cx)
            {
                return std::task::Poll::Ready(Work::Feed(stream_id, feed));
            }
            if let std::task::Poll::Ready(Some(done)) = self.lengths.poll_join_next_with_id(cx) {
                return std::task::Poll::Ready(Work::Length(done));
            }
            if let std::task::Poll::Ready(Some(done)) = self.asks.poll_join_next(cx) {
                return std::task::Poll::Ready(Work::Ask(done));
            }
            if let std::task::Poll::Ready(Some(mail)) = self.shared.poll_mail(cx) {
                return std::task::Poll::Ready(Work::Mail(mail));
            }
            if let std::task::Poll::Ready(Some(done)) = self.shared.remote.poll_join_next(cx) {
                return std::task::Poll::Ready(Work::Remote(done));
            }
            std::task::Poll::Pending
        })
        .await
    }

    /// Carries out `work`, and whatever else is ready at once, into the same write.
    pub fn on_work(&mut self, work: Work) {
        match work {
            Work::Feed(stream_id, feed) => {
                self.on_feed(stream_id, feed);
                for _ in 0..FEED_BATCH {
                    if self.session.queued_bytes() >= FEED_BATCH_BYTES {
                        break;
                    }
                    match self.feeds.next().now_or_never() {
                        Some(Some((stream_id, feed))) => self.on_feed(stream_id, feed),
                        _ => break,
                    }
                }
            }
            Work::Length(done) => self.answer_length(done),
            Work::Ask(done) => self.answered(done),
            Work::Mail(mail) => self.on_mail(mail),
            Work::Remote(done) => self.remote_answered(done),
        }
    }

    /// A liveness probe for a client that has been silent (see `ping_interval_secs`).
    pub fn ping(&mut self, millis: u32) {
        self.session
            .send_user_control(UserControl::PingRequest(millis));
    }

    /// Everything to write, in order.
    pub fn drain_output(&mut self, into: &mut Vec<Bytes>) {
        self.session.drain_output(into);
    }

    /// Whether [`Self::shut_down`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// Why the connection must end now, if it must.
    pub fn must_close(&mut self) -> Option<String> {
        if self.session.is_closing() {
            let why = self.session.close_reason().unwrap_or("the session closed");
            return Some(why.to_owned());
        }
        if self.stopping && !self.is_unpublishing() {
            return Some("the gateway is shutting down".into());
        }
        self.kick.take()
    }

    /// Graceful shutdown (`drain_secs`): NetConnection.Connect.ReconnectRequest with the
    /// configured `reconnect_url`, or the client's own tcUrl. Media keeps flowing until the
    /// client leaves or the drain time is up.
    pub fn request_reconnect(&mut self) {
        let url = match &self.gateway.config.reconnect_url {
            Some(url) => url.clone(),
            None => self.client.tcurl.clone(),
        };
        if url.is_empty() {
            return; // not connected yet: nothing to reconnect to
        }
        self.session.send_reconnect_request(
            Some(&url),
            "The gateway is shutting down; please reconnect.",
        );
    }

    /// Gateway shutdown: publishers are told Unpublish.Success, subscribers UnpublishNotify;
    /// publishers that record stay until their files are final, and nothing new starts.
    pub fn shut_down(&mut self) {
        self.stopping = true;
        let ids: Vec<StreamId> = self.roles.keys().copied().collect();
        for stream_id in ids {
            // Whether the publisher's connection closed first or not, a subscriber that was
            // last told "published" hears UnpublishNotify.
            if let Some(Role::Subscribing(subscriber)) = self.roles.get(&stream_id) {
                if subscriber.published {
                    let info = rtmpws_protocol::status::Status::NetStreamPlayUnpublishNotify
                        .info(&subscriber.name);
                    self.session.send_status(stream_id, info);
                }
            }
            self.close_stream(stream_id, true);
        }
    }

    /// The connection is gone: a publisher that did not unpublish is unpublished now.
    pub fn release(&mut self) {
        let ids: Vec<StreamId> = self.roles.keys().copied().collect();
        for stream_id in ids {
            self.close_stream(stream_id, false);
        }
        self.release_shared();
    }

    fn app(&self) -> &str {
        self.app.as_deref().unwrap_or_default()
    }

    fn stream_name(&self, stream_id: StreamId) -> String {
        self.roles
            .get(&stream_id)
            .map(|role| role.name().to_owned())
            .unwrap_or_default()
    }

    /// The one place session events turn into actions.
    fn handle_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                ServerEvent::ConnectRequested(request) => self.connect(request),
                ServerEvent::PublishRequested {
                    stream_id,
                    name,
                    mode,
                } => self.publish(stream_id, name, mode),
                ServerEvent::PlayRequested { stream_id, request } => self.play(stream_id, request),
                ServerEvent::StreamLengthRequested {
                    transaction_id,
                    name,
                } => self.stream_length(transaction_id, &name),
                ServerEvent::Play2Requested { stream_id, options } => {
                    self.play2(stream_id, &options)
                }
                ServerEvent::PauseRequested {
                    stream_id,
                    pause,
                    position_ms,
                } => self.pause(stream_id, pause, position_ms),
                ServerEvent::SeekRequested {
                    stream_id,
                    position_ms,
                } => self.seek(stream_id, position_ms),
                ServerEvent::ReceiveAudio { stream_id, enabled } => {
                    self.receive_audio(stream_id, enabled)
                }
                ServerEvent::ReceiveVideo { stream_id, enabled } => {
                    self.receive_video(stream_id, enabled)
                }
                ServerEvent::StreamClosed { stream_id } => self.close_stream(stream_id, true),
                ServerEvent::Media {
                    stream_id,
                    timestamp,
                    kind,
                    payload,
                } => self.publisher_media(stream_id, timestamp, kind, payload),
                ServerEvent::Data {
                    stream_id,
                    timestamp,
                    values,
                } => self.publisher_data(stream_id, timestamp, values),
                ServerEvent::SharedObject {
                    name,
                    version,
                    persistent,
                    requests,
                } => self.shared_object(name, version, persistent, requests),
                ServerEvent::Call {
                    transaction_id,
                    method,
                    args,
                    ..
                } => self.remote_call(transaction_id, method, args),
                ServerEvent::ClientAnswered {
                    transaction_id,
                    ok,
                    args,
                } => self.client_answered(transaction_id, ok, args),
                ServerEvent::Ignored { reason } => debug!(id = self.id, "ignored: {reason}"),
            }
        }
    }

    fn connect(&mut self, request: ConnectRequest) {
        if let Decision::Deny(why) = self.gateway.policy.connect(&request.app) {
            info!(id = self.id, app = %request.app, "connect refused: {why}");
            return self.session.reject_connect(&why);
        }
        let field = |key: &str| {
            let value = request.command_object.get_str(key).unwrap_or_default();
            // A page's URL fragment is the page's own business.
            value
                .split_once('#')
                .map_or(value, |(url, _)| url)
                .to_owned()
        };
        self.client.app = request.app.clone();
        self.client.flashver = field("flashVer");
        self.client.swfurl = field("swfUrl");
        self.client.pageurl = field("pageUrl");
        self.client.tcurl = request.tc_url.clone();
        let hook = self
            .gateway
            .policy
            .app(&request.app)
            .and_then(|app| app.on_connect.clone());
        match hook {
            Some(url) => {
                let epoch = [("epoch", signing::unix_now().to_string())];
                let query = request.query.clone();
                self.ask(
                    url,
                    Call::Connect,
                    &epoch,
                    query.as_deref(),
                    Asked::Connect(request),
                );
            }
            None => self.accept_connect(request),
        }
    }

    fn accept_connect(&mut self, request: ConnectRequest) {
        info!(id = self.id, app = %request.app, tc_url = %request.tc_url, "connected");
        self.session.accept_connect(&self.id.to_string());
        self.gateway.clients.register(
            self.id,
            ClientEntry {
                app: request.app.clone(),
                mailbox: self.shared.mailbox(),
            },
        );
        self.app = Some(request.app);
    }

    /// The application's rules; every connected client has an application.
    fn rules(&self) -> Option<&AppConfig> {
        self.gateway.policy.app(self.app())
    }

    fn tell_play_done(&self, name: &str) {
        let name = StreamName::parse(name);
        let url = self.rules().and_then(|app| app.on_play_done.as_ref());
        let fields = [("name", name.key().to_owned())];
        self.tell(url, Call::PlayDone, &fields, name.query());
    }

    fn on_feed(&mut self, stream_id: StreamId, feed: Feed) {
        match feed {
            Feed::Live(event) => self.on_live(stream_id, event),
            Feed::Recorded(event) => self.on_recorded(stream_id, event),
            Feed::Recording(event) => self.on_recording(stream_id, event),
        }
    }

    /// Ends what `stream_id` is doing; `notify` tells a publisher Unpublish.Success.
    fn close_stream(&mut self, stream_id: StreamId, notify: bool) {
        self.forget_ask(stream_id);
        let feed = self.feeds.remove(&stream_id);
        match self.roles.remove(&stream_id) {
            Some(Role::Publishing(publisher)) => {
                self.end_publish(stream_id, publisher, feed, notify)
            }
            // A second close (closeStream then deleteStream): still waiting for the file.
            Some(role @ Role::Unpublishing(_)) if notify => {
                if let Some(feed) = feed {
                    self.feeds.insert(stream_id, feed);
                }
                self.roles.insert(stream_id, role);
            }
            // The stream plays now, or the connection is gone: the client hears the end of
            // the last publish at once, in order, while the file is still being finalised.
            Some(Role::Unpublishing(unpublishing)) => {
                self.send_unpublished(stream_id, &unpublishing.name)
            }
            Some(Role::Subscribing(subscriber)) => {
                if subscriber.lag.dropped > 0 {
                    info!(id = self.id, name = %subscriber.name, dropped = subscriber.lag.dropped, "subscriber lost messages");
                }
                let name = subscriber.name.clone();
                // Its feed holds a receiver of the stream: gone first, so the stream can be.
                drop((subscriber, feed));
                self.gateway.registry.forget_if_unused(self.app(), &name);
                self.tell_play_done(&name);
            }
            // Dropping the handle stops the player task.
            Some(Role::PlayingRecorded(player)) => self.tell_play_done(&player.name),
            None => {}
        }
    }
}
