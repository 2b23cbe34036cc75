//! One client connection: drives a [`ServerSession`] over a [`Transport`] and carries out what
//! it asks with the live stream [`Registry`] and the recorded-item [`Library`].

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::FutureExt;
use rtmpws_protocol::amf::Value;
use rtmpws_protocol::chunk::DecoderLimits;
use rtmpws_protocol::message::{Message, UserControl};
use rtmpws_protocol::server::{
    ConnectRequest, PlayRequest, PublishMode, ServerConfig, ServerEvent, ServerSession,
};
use rtmpws_protocol::status::{Info, Status};
use rtmpws_protocol::{MediaKind, StreamId, Timestamp};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::{BroadcastStream, ReceiverStream};
use tokio_stream::{Stream, StreamExt, StreamMap};
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::live::{LiveEvent, LiveStream, MediaFrame, Registry, Snapshot};
use crate::record::{record_path, Quota, RecordError, RecordEvent, Recorder, Recordings};
use crate::transport::{Batch, Transport};
use crate::vod::{
    self, Library, LookupError, PlayItem, Transition, VodControl, VodEvent, VodHandle,
};

/// What every connection shares.
pub struct Gateway {
    pub config: Config,
    pub registry: Registry,
    pub library: Arc<Library>,
    pub recordings: Arc<Recordings>,
    next_id: AtomicU64,
    shutdown: watch::Receiver<bool>,
}

impl Gateway {
    pub fn new(config: Config, shutdown: watch::Receiver<bool>) -> Self {
        let registry = Registry::new(config.subscriber_queue, config.gop_cache_bytes);
        let library = Arc::new(Library::new(config.media_dir.clone()));
        Gateway {
            config,
            registry,
            library,
            recordings: Arc::default(),
            next_id: AtomicU64::new(1),
            shutdown,
        }
    }

    fn session_config(&self) -> ServerConfig {
        ServerConfig {
            chunk_limits: DecoderLimits {
                max_chunk_size: self.config.max_peer_chunk_size,
                max_message_size: self.config.max_message_size,
                ..DecoderLimits::default()
            },
            chunk_size: self.config.chunk_size,
            ..ServerConfig::default()
        }
    }
}

/// What a NetStream of this connection is doing.
enum Role {
    Publishing(Publisher),
    Playing(LivePlayer),
    /// Playing recorded items; the player task owns the playlist.
    Recorded {
        player: VodHandle,
        name: String,
    },
    /// Unpublished while recording: Record.Stop and Unpublish.Success wait until the
    /// recorder has made the file final, so whoever the publisher tells can play all of it.
    /// A publish meanwhile waits too (`next`), so its statuses follow, and an append finds
    /// the file free.
    Unpublishing {
        name: String,
        next: Option<(String, PublishMode)>,
    },
}

/// A publisher of a live stream.
struct Publisher {
    stream: Arc<LiveStream>,
    name: String,
    recorder: Option<Recorder>,
    last_media: Instant,
    /// Publish.Idle was sent and the stream unpublished; media brings it back.
    idle: bool,
}

/// A subscriber of a live stream.
struct LivePlayer {
    stream: Arc<LiveStream>,
    name: String,
    paused: bool,
    audio: bool,
    video: bool,
    /// After losing messages (or turning video back on), wait for a keyframe so the decoder
    /// never sees a frame whose references are missing.
    await_keyframe: bool,
    dropped: u64,
    last_warning: Option<Instant>,
    /// What the subscriber was last told: published (snapshot or PublishNotify) or not.
    published: bool,
}

/// What arrives for a NetStream: live stream events, or a recorded-item player's output.
enum Feed {
    Live(Result<LiveEvent, BroadcastStreamRecvError>),
    Recorded(VodEvent),
    /// From the recorder of a publishing stream.
    Recording(RecordEvent),
}

type FeedStream = Pin<Box<dyn Stream<Item = Feed> + Send>>;

fn live_feed(receiver: broadcast::Receiver<LiveEvent>) -> FeedStream {
    Box::pin(BroadcastStream::new(receiver).map(Feed::Live))
}

struct Connection {
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
}

/// `getStreamLength` calls one connection may have in flight; more fail at once.
const MAX_LENGTH_CALLS: usize = 4;

/// Serves one connection until it closes or the gateway shuts down.
pub async fn serve<T: Transport>(mut transport: T, gateway: Arc<Gateway>, peer: String) {
    let id = gateway.next_id.fetch_add(1, Ordering::Relaxed);
    // The shutdown signal reaches every connection through one waiter list, whose lock a
    // `changed()` future takes each time it is polled, i.e. per message sent. So this task
    // registers once, with a future polled only here, and each loop turn merely reads the
    // channel's version (an atomic load); the registration wakes the task when it changes.
    let mut shutdown_rx = gateway.shutdown.clone();
    let mut shutdown_check = gateway.shutdown.clone();
    let registration = async move {
        let _ = shutdown_rx.changed().await;
    };
    tokio::pin!(registration);
    std::future::poll_fn(|cx| {
        let _ = std::future::Future::poll(registration.as_mut(), cx);
        Poll::Ready(())
    })
    .await;
    let shutdown = std::future::poll_fn(|_| {
        if shutting_down(&mut shutdown_check) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    });
    tokio::pin!(shutdown);
    let connect_deadline =
        tokio::time::sleep(Duration::from_secs(gateway.config.connect_timeout_secs));
    tokio::pin!(connect_deadline);
    let mut conn = Connection {
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
    };
    // Liveness: see `ping_interval_secs`. The period is long, so the timer costs nothing on
    // the media path.
    let ping_every = Duration::from_secs(conn.gateway.config.ping_interval_secs);
    let mut ping_check = tokio::time::interval_at(
        Instant::now() + ping_every,
        ping_every.max(Duration::from_secs(1)),
    );
    ping_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let opened = Instant::now();
    let mut last_read = opened;
    let mut idle_check = tokio::time::interval(Duration::from_secs(1));
    // Only publishers are checked; a tick missed meanwhile is not worth a burst.
    idle_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    debug!(id, %peer, "connection opened");
    let mut buf = Vec::new();
    let mut out = Batch::default();
    loop {
        tokio::select! {
            biased;
            // Once: publishers that record stay until their files are final (see below).
            () = &mut shutdown, if !conn.stopping => {
                conn.stopping = true;
                conn.shut_down();
            }
            read = transport.read(&mut buf) => match read {
                Ok(0) => break,
                Ok(n) => {
                    last_read = Instant::now();
                    if let Err(e) = conn.session.handle_input(&buf[..n]) {
                        warn!(id, %peer, "closing: {e}");
                        let _ = conn.flush(&mut transport, &mut out).await;
                        break;
                    }
                    conn.handle_events();
                }
                Err(e) => {
                    debug!(id, %peer, "read failed: {e}");
                    break;
                }
            },
            Some((stream_id, feed)) = conn.feeds.next(), if !conn.feeds.is_empty() => {
                conn.on_feed(stream_id, feed);
                // Batch whatever else is ready into the same write.
                for _ in 0..256 {
                    match conn.feeds.next().now_or_never() {
                        Some(Some((stream_id, feed))) => conn.on_feed(stream_id, feed),
                        _ => break,
                    }
                }
            }
            Some(done) = conn.lengths.join_next_with_id(), if !conn.lengths.is_empty() => {
                conn.answer_length(done);
            }
            _ = idle_check.tick(), if conn.is_publishing() => conn.check_idle(),
            now = ping_check.tick(), if !ping_every.is_zero() && conn.app.is_some() => {
                let silent = now.saturating_duration_since(last_read);
                if silent >= 2 * ping_every {
                    info!(id, %peer, "closing: no answer to ping in {}s", silent.as_secs());
                    break;
                }
                if silent >= ping_every {
                    // The ping's timestamp wraps after 49 days, which RTMP allows.
                    let millis = now.saturating_duration_since(opened).as_millis() as u32;
                    conn.session.send_user_control(UserControl::PingRequest(millis));
                }
            }
            () = &mut connect_deadline, if conn.app.is_none() => {
                info!(id, %peer, "closing: no connect within {}s", conn.gateway.config.connect_timeout_secs);
                break;
            }
        }
        if let Err(e) = conn.flush(&mut transport, &mut out).await {
            debug!(id, %peer, "write failed: {e}");
            break;
        }
        if conn.session.is_closing() || (conn.stopping && !conn.is_unpublishing()) {
            break;
        }
        if let Some(why) = conn.kick.take() {
            info!(id, %peer, "closing: {why}");
            break;
        }
    }
    conn.release();
    transport.close().await;
    debug!(id, %peer, "connection closed");
}

impl Connection {
    /// Whether any stream of this connection publishes (and so needs the idle check).
    fn is_publishing(&self) -> bool {
        self.roles
            .values()
            .any(|role| matches!(role, Role::Publishing(_)))
    }

    async fn flush<T: Transport>(
        &mut self,
        transport: &mut T,
        out: &mut Batch,
    ) -> std::io::Result<()> {
        self.session.drain_output(&mut out.segments);
        if out.is_empty() {
            return Ok(());
        }
        // Nearly every write completes at once: try it without arming the write timeout, whose
        // timer would cost more than the write. Only a full socket waits, with the timeout.
        let at_once = transport.poll_write(&mut Context::from_waker(Waker::noop()), out);
        let result = match at_once {
            Poll::Ready(result) => result,
            Poll::Pending => {
                let limit = Duration::from_secs(self.gateway.config.write_timeout_secs);
                let rest = std::future::poll_fn(|cx| transport.poll_write(cx, out));
                match tokio::time::timeout(limit, rest).await {
                    Ok(result) => result,
                    Err(_) => Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("a write took over {limit:?}"),
                    )),
                }
            }
        };
        out.clear();
        result
    }

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
                } => {
                    if !self
                        .forward_to_recorded(stream_id, VodControl::Pause { pause, position_ms })
                    {
                        self.pause_live(stream_id, pause);
                    }
                }
                ServerEvent::SeekRequested {
                    stream_id,
                    position_ms,
                } => {
                    if !self.forward_to_recorded(stream_id, VodControl::Seek { position_ms }) {
                        let name = self.stream_name(stream_id);
                        let description = format!(
                            "Seeking {position_ms} (stream ID: {stream_id}) failed: {name} is live and cannot seek."
                        );
                        self.session.send_status(
                            stream_id,
                            Info::new(Status::NetStreamSeekFailed, description).details(&name),
                        );
                    }
                }
                ServerEvent::ReceiveAudio { stream_id, enabled } => {
                    if let Some(Role::Playing(player)) = self.roles.get_mut(&stream_id) {
                        player.audio = enabled;
                    }
                    self.forward_to_recorded(stream_id, VodControl::ReceiveAudio(enabled));
                }
                ServerEvent::ReceiveVideo { stream_id, enabled } => {
                    if let Some(Role::Playing(player)) = self.roles.get_mut(&stream_id) {
                        player.await_keyframe |= enabled && !player.video;
                        player.video = enabled;
                    }
                    self.forward_to_recorded(stream_id, VodControl::ReceiveVideo(enabled));
                }
                ServerEvent::StreamClosed { stream_id } => self.close_stream(stream_id, true),
                ServerEvent::Media {
                    stream_id,
                    timestamp,
                    kind,
                    payload,
                } => {
                    let frame =
                        MediaFrame::new(kind, timestamp, payload, self.session.chunk_size());
                    self.publisher_media(stream_id, Arc::new(frame));
                }
                ServerEvent::Data {
                    stream_id,
                    timestamp,
                    values,
                } => {
                    if let Some(Role::Publishing(publisher)) = self.roles.get_mut(&stream_id) {
                        let values = Arc::new(values);
                        if let Some(recorder) = &mut publisher.recorder {
                            recorder.data(timestamp.0, Arc::clone(&values));
                        }
                        publisher.stream.push_data(timestamp, values);
                    }
                }
                ServerEvent::Ignored { reason } => debug!(id = self.id, "ignored: {reason}"),
            }
        }
    }

    fn connect(&mut self, request: ConnectRequest) {
        if self.gateway.config.apps.contains(&request.app) {
            info!(id = self.id, app = %request.app, tc_url = %request.tc_url, "connected");
            self.session.accept_connect(&self.id.to_string());
            self.app = Some(request.app);
        } else {
            info!(id = self.id, app = %request.app, "rejected: unknown application");
            self.session.reject_connect(&format!(
                "Application '{}' is not configured on this server.",
                request.app
            ));
        }
    }

    fn app(&self) -> &str {
        self.app.as_deref().unwrap_or_default()
    }

    fn stream_name(&self, stream_id: StreamId) -> String {
        match self.roles.get(&stream_id) {
            Some(
                Role::Publishing(Publisher { name, .. })
                | Role::Recorded { name, .. }
                | Role::Unpublishing { name, .. },
            ) => name.clone(),
            Some(Role::Playing(player)) => player.name.clone(),
            None => String::new(),
        }
    }

    /// `getStreamLength(name)`: a recorded item's duration in seconds, from its (cached)
    /// index; 0 for anything else, live streams included, as FMS answers.
    fn stream_length(&mut self, transaction_id: f64, name: &str) {
        let Ok(path) = self.gateway.library.resolve(self.app(), name) else {
            return self.session.answer_stream_length(transaction_id, 0.0);
        };
        if self.lengths.len() >= MAX_LENGTH_CALLS {
            return self.session.fail_call(
                transaction_id,
                &format!("getStreamLength: {MAX_LENGTH_CALLS} calls already in flight"),
            );
        }
        let library = Arc::clone(&self.gateway.library);
        let task = self.lengths.spawn(async move {
            match library.index(&path).await {
                Ok(index) => index.duration_secs(),
                Err(_) => 0.0,
            }
        });
        self.length_calls.insert(task.id(), transaction_id);
    }

    /// A `getStreamLength` task ended: its answer, or Call.Failed if it did not finish.
    fn answer_length(&mut self, done: Result<(tokio::task::Id, f64), tokio::task::JoinError>) {
        let (id, seconds) = match done {
            Ok((id, seconds)) => (id, Ok(seconds)),
            Err(e) => (e.id(), Err(e)),
        };
        let Some(transaction_id) = self.length_calls.remove(&id) else {
            return;
        };
        match seconds {
            Ok(seconds) => self.session.answer_stream_length(transaction_id, seconds),
            Err(e) => self
                .session
                .fail_call(transaction_id, &format!("getStreamLength failed: {e}")),
        }
    }

    fn publish(&mut self, stream_id: StreamId, name: String, mode: PublishMode) {
        if let Some(Role::Unpublishing { next, .. }) = self.roles.get_mut(&stream_id) {
            *next = Some((name, mode));
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
        let key = stream_key(&name);
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
                let recording = mode != PublishMode::Live
                    || self
                        .gateway
                        .config
                        .record_all
                        .iter()
                        .any(|a| a == self.app());
                let recorder = if recording {
                    self.start_recording(stream_id, key, mode)
                } else {
                    None
                };
                let publisher = Publisher {
                    stream,
                    name: key.to_owned(),
                    recorder,
                    last_media: Instant::now(),
                    idle: false,
                };
                self.roles.insert(stream_id, Role::Publishing(publisher));
            }
            Err(e) => {
                info!(id = self.id, name = key, "publish refused: {e}");
                self.session
                    .send_status(stream_id, Status::NetStreamPublishBadName.info(key));
            }
        }
    }

    /// `play(name, start, len, reset)`: start -2 plays the live stream if it is published,
    /// else the recorded item, else waits for a publisher; -1 live only; >= 0 recorded only.
    fn play(&mut self, stream_id: StreamId, request: PlayRequest) {
        let key = stream_key(&request.name).to_owned();
        if !request.reset {
            // Queued after the current recorded item; a missing one is reported when reached.
            let item = PlayItem::from_play(&request.name, request.start, request.len);
            if self.forward_to_recorded(stream_id, VodControl::Play { item, reset: false }) {
                return;
            }
        }
        let live_only = request.start > -2.0 && request.start < 0.0;
        let wants_recorded = request.start >= 0.0
            || (!live_only && !self.gateway.registry.is_published(self.app(), &key));
        if wants_recorded {
            match self.gateway.library.resolve(self.app(), &request.name) {
                Ok(_) => {
                    let item = PlayItem::from_play(&request.name, request.start, request.len);
                    let control = VodControl::Play {
                        item,
                        reset: request.reset,
                    };
                    return self.start_recorded(stream_id, &request.name, control);
                }
                Err(LookupError::BadName(_)) => {
                    return self.session.send_status(
                        stream_id,
                        Status::NetStreamPlayStreamNotFound.info(&request.name),
                    );
                }
                Err(LookupError::NotFound(_)) if request.start >= 0.0 => {
                    return self.session.send_status(
                        stream_id,
                        Status::NetStreamPlayStreamNotFound.info(&request.name),
                    );
                }
                Err(LookupError::NotFound(_)) => {}
            }
        }
        self.play_live(stream_id, key, request.reset);
    }

    fn play_live(&mut self, stream_id: StreamId, key: String, reset: bool) {
        self.close_stream(stream_id, false);
        let stream = self.gateway.registry.stream(self.app(), &key);
        let (snapshot, feed) = stream.subscribe();
        info!(id = self.id, app = self.app(), name = %key, published = snapshot.published, "playing live");
        self.session.begin_play(stream_id, &key, reset, false);
        self.send_snapshot(stream_id, &snapshot);
        self.feeds.insert(stream_id, live_feed(feed));
        let player = LivePlayer {
            stream,
            name: key,
            paused: false,
            audio: true,
            video: true,
            await_keyframe: false,
            dropped: 0,
            last_warning: None,
            published: snapshot.published,
        };
        self.roles.insert(stream_id, Role::Playing(player));
    }

    /// Replaces what `stream_id` does with a recorded-item player, and gives it `control`.
    fn start_recorded(&mut self, stream_id: StreamId, name: &str, control: VodControl) {
        self.close_stream(stream_id, false);
        let lead = Duration::from_millis(self.gateway.config.vod_lead_ms);
        let (player, events) = vod::spawn(
            Arc::clone(&self.gateway.library),
            self.app().to_owned(),
            stream_id,
            lead,
        );
        player.send(control);
        info!(id = self.id, app = self.app(), name, "playing recorded");
        self.feeds.insert(
            stream_id,
            Box::pin(ReceiverStream::new(events).map(Feed::Recorded)),
        );
        self.roles.insert(
            stream_id,
            Role::Recorded {
                player,
                name: name.to_owned(),
            },
        );
    }

    /// Passes a command to the recorded-item player of `stream_id`; false if there is none.
    fn forward_to_recorded(&mut self, stream_id: StreamId, control: VodControl) -> bool {
        match self.roles.get(&stream_id) {
            Some(Role::Recorded { player, .. }) => {
                if !player.send(control) {
                    warn!(id = self.id, "recorded player flooded; command dropped");
                }
                true
            }
            _ => false,
        }
    }

    /// `play2(NetStreamPlayOptions)`: transitions between recorded items.
    fn play2(&mut self, stream_id: StreamId, options: &Value) {
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

    fn on_feed(&mut self, stream_id: StreamId, feed: Feed) {
        match feed {
            Feed::Live(event) => self.on_live(stream_id, event),
            Feed::Recorded(event) => self.on_recorded(stream_id, event),
            Feed::Recording(event) => self.on_recording(stream_id, event),
        }
    }

    /// Starts a recorder for a publish; Record.Start follows once the file is open.
    fn start_recording(
        &mut self,
        stream_id: StreamId,
        name: &str,
        mode: PublishMode,
    ) -> Option<Recorder> {
        let config = &self.gateway.config;
        let quota = Quota {
            max_bytes: config.record_max_bytes,
            max_duration_ms: config
                .record_max_secs
                .map(|s| u32::try_from(s.saturating_mul(1000)).unwrap_or(u32::MAX)),
            app_max_bytes: config.record_app_max_bytes,
        };
        let started = record_path(config.record_root(), self.app(), name).and_then(|path| {
            let library = Arc::clone(&self.gateway.library);
            Recorder::start(
                path,
                mode,
                quota,
                Arc::clone(&self.gateway.recordings),
                move |p| library.is_playing(p),
            )
        });
        match started {
            Ok((recorder, events)) => {
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
                info!(id = self.id, name, "not recording: {e}");
                self.session.send_status(
                    stream_id,
                    Info::new(status, format!("Cannot record {name}: {e}.")).details(name),
                );
                None
            }
        }
    }

    fn on_recording(&mut self, stream_id: StreamId, event: RecordEvent) {
        let name = match self.roles.get(&stream_id) {
            Some(Role::Publishing(Publisher { name, .. }) | Role::Unpublishing { name, .. }) => {
                name.clone()
            }
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
            Some(Role::Unpublishing { .. }) => {
                let Some(Role::Unpublishing { next, .. }) = self.roles.remove(&stream_id) else {
                    return;
                };
                if started {
                    self.session
                        .send_status(stream_id, Status::NetStreamRecordStop.info(&name));
                }
                self.session
                    .send_status(stream_id, Status::NetStreamUnpublishSuccess.info(&name));
                if let Some((name, mode)) = next {
                    self.publish(stream_id, name, mode);
                }
            }
            _ => {}
        }
    }

    /// Media from a publisher: to subscribers and the recorder. Media after Publish.Idle
    /// publishes the stream again.
    fn publisher_media(&mut self, stream_id: StreamId, frame: Arc<MediaFrame>) {
        let app = self.app.clone().unwrap_or_default();
        let Some(Role::Publishing(publisher)) = self.roles.get_mut(&stream_id) else {
            return;
        };
        publisher.last_media = Instant::now();
        if publisher.idle {
            match self
                .gateway
                .registry
                .publish(&app, &publisher.name, self.id)
            {
                Ok(stream) => {
                    publisher.stream = stream;
                    publisher.idle = false;
                    let name = publisher.name.clone();
                    info!(id = self.id, name = %name, "publishing again after idling");
                    self.session
                        .send_status(stream_id, Status::NetStreamPublishStart.info(&name));
                }
                Err(_) => {
                    // Someone else took the name meanwhile.
                    let name = publisher.name.clone();
                    self.session
                        .send_status(stream_id, Status::NetStreamPublishBadName.info(&name));
                    self.close_stream(stream_id, false);
                    return;
                }
            }
        }
        let Some(Role::Publishing(publisher)) = self.roles.get_mut(&stream_id) else {
            return;
        };
        if let Some(recorder) = &mut publisher.recorder {
            recorder.media(&frame);
        }
        publisher.stream.push_media(frame);
    }

    /// Publishers that sent no media for `publish_idle_secs` get Publish.Idle and their stream
    /// is unpublished, so subscribers are not left waiting on a silent stream.
    fn check_idle(&mut self) {
        let limit = Duration::from_secs(self.gateway.config.publish_idle_secs);
        let app = self.app.clone().unwrap_or_default();
        for (stream_id, role) in &mut self.roles {
            let Role::Publishing(publisher) = role else {
                continue;
            };
            if publisher.idle || publisher.last_media.elapsed() < limit {
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

    fn on_recorded(&mut self, stream_id: StreamId, event: VodEvent) {
        match event {
            VodEvent::Control(event) => self.session.send_user_control(event),
            VodEvent::Status(info) => self.session.send_status(stream_id, info),
            VodEvent::PlayStatus { timestamp, info } => {
                self.session.send_play_status(stream_id, timestamp, info)
            }
            VodEvent::SampleAccess => self.session.send_sample_access(stream_id),
            VodEvent::Data { timestamp, values } => {
                self.session.send_data(stream_id, timestamp, values)
            }
            VodEvent::Media {
                kind,
                timestamp,
                payload,
            } => {
                let message = match kind {
                    MediaKind::Audio => Message::Audio(payload),
                    MediaKind::Video => Message::Video(payload),
                };
                self.session.send_message(stream_id, timestamp, &message);
            }
        }
    }

    fn send_snapshot(&mut self, stream_id: StreamId, snapshot: &Snapshot) {
        if let Some(metadata) = &snapshot.metadata {
            self.session
                .send_data(stream_id, Timestamp::ZERO, metadata.to_vec());
        }
        let frames = snapshot
            .audio_header
            .iter()
            .chain(&snapshot.video_header)
            .chain(&snapshot.gop);
        for frame in frames {
            self.send_frame(stream_id, frame);
        }
    }

    fn send_frame(&mut self, stream_id: StreamId, frame: &MediaFrame) {
        if let Err(e) = self.session.send_media(stream_id, &frame.chunks) {
            warn!(id = self.id, "cannot send media: {e}");
        }
    }

    /// Pause on a live stream: media stops; on resume the subscriber rejoins at the live edge.
    fn pause_live(&mut self, stream_id: StreamId, pause: bool) {
        let Some(Role::Playing(player)) = self.roles.get_mut(&stream_id) else {
            let info = Info::new(
                Status::NetStreamFailed,
                "pause: nothing is playing on this stream",
            );
            return self.session.send_status(stream_id, info);
        };
        let name = player.name.clone();
        player.paused = pause;
        if pause {
            self.session
                .send_user_control(UserControl::StreamEof(stream_id));
            self.session
                .send_status(stream_id, Status::NetStreamPauseNotify.info(&name));
        } else {
            // A fresh snapshot, not what was missed.
            let (snapshot, feed) = player.stream.subscribe();
            self.session
                .send_user_control(UserControl::StreamBegin(stream_id));
            self.session
                .send_status(stream_id, Status::NetStreamUnpauseNotify.info(&name));
            self.session
                .send_status(stream_id, Status::NetStreamPlayStart.info(&name));
            self.send_snapshot(stream_id, &snapshot);
            self.feeds.insert(stream_id, live_feed(feed));
        }
    }

    /// Ends what `stream_id` is doing; `notify` tells a publisher Unpublish.Success.
    fn close_stream(&mut self, stream_id: StreamId, notify: bool) {
        let feed = self.feeds.remove(&stream_id);
        match self.roles.remove(&stream_id) {
            Some(Role::Publishing(Publisher {
                stream,
                name,
                recorder,
                ..
            })) => {
                self.gateway.registry.unpublish(
                    self.app.as_deref().unwrap_or_default(),
                    &stream,
                    self.id,
                );
                info!(id = self.id, name = %name, "unpublished");
                match (recorder, feed) {
                    (Some(recorder), Some(feed)) if notify => {
                        // The recorder's events keep coming until it reports the file final.
                        recorder.stop();
                        self.feeds.insert(stream_id, feed);
                        self.roles
                            .insert(stream_id, Role::Unpublishing { name, next: None });
                    }
                    (Some(recorder), _) => {
                        recorder.stop();
                        if notify {
                            self.send_unpublished(stream_id, &name);
                        }
                    }
                    (None, _) => {
                        if notify {
                            self.session.send_status(
                                stream_id,
                                Status::NetStreamUnpublishSuccess.info(&name),
                            );
                        }
                    }
                }
            }
            // A second close (closeStream then deleteStream): still waiting for the file.
            Some(role @ Role::Unpublishing { .. }) if notify => {
                if let Some(feed) = feed {
                    self.feeds.insert(stream_id, feed);
                }
                self.roles.insert(stream_id, role);
            }
            // The stream plays now, or the connection is gone: the client hears the end of
            // the last publish at once, in order, while the file is still being finalised.
            Some(Role::Unpublishing { name, .. }) => self.send_unpublished(stream_id, &name),
            Some(Role::Playing(player)) => {
                if player.dropped > 0 {
                    info!(id = self.id, name = %player.name, dropped = player.dropped, "subscriber lost messages");
                }
                let name = player.name.clone();
                drop(player);
                self.gateway.registry.forget_if_unused(self.app(), &name);
            }
            // Dropping the handle stops the player task.
            Some(Role::Recorded { .. }) | None => {}
        }
    }

    /// The end of a recording publish: Record.Stop, then Unpublish.Success.
    fn send_unpublished(&mut self, stream_id: StreamId, name: &str) {
        self.session
            .send_status(stream_id, Status::NetStreamRecordStop.info(name));
        self.session
            .send_status(stream_id, Status::NetStreamUnpublishSuccess.info(name));
    }

    /// Whether a publish is waiting for its recording to be final.
    fn is_unpublishing(&self) -> bool {
        self.roles
            .values()
            .any(|role| matches!(role, Role::Unpublishing { .. }))
    }

    fn on_live(&mut self, stream_id: StreamId, event: Result<LiveEvent, BroadcastStreamRecvError>) {
        let Some(Role::Playing(player)) = self.roles.get_mut(&stream_id) else {
            return;
        };
        let event = match event {
            Ok(event) => event,
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                // Behind by a whole queue: skip to the next keyframe instead of buffering.
                player.dropped += missed;
                player.await_keyframe = true;
                let config = &self.gateway.config;
                let interval = Duration::from_secs(config.insufficient_bw_interval_secs);
                if player.dropped > config.subscriber_max_dropped {
                    self.kick = Some(format!(
                        "subscriber of {} lost {} messages",
                        player.name, player.dropped
                    ));
                } else if player
                    .last_warning
                    .is_none_or(|at| at.elapsed() >= interval)
                {
                    player.last_warning = Some(Instant::now());
                    let description = format!(
                        "The connection is too slow for {}: {} messages dropped so far; playback skips to the next keyframe.",
                        player.name, player.dropped
                    );
                    let info = Info::new(Status::NetStreamPlayInsufficientBW, description)
                        .details(&player.name)
                        .field("dropped", player.dropped as f64);
                    self.session.send_status(stream_id, info);
                }
                return;
            }
        };
        match event {
            LiveEvent::Media(frame) => {
                if player.paused {
                    return;
                }
                let wanted = match frame.kind {
                    MediaKind::Audio => player.audio,
                    MediaKind::Video => player.video,
                };
                if !wanted && !frame.sequence_header {
                    return;
                }
                if player.await_keyframe && !frame.sequence_header {
                    if frame.kind == MediaKind::Video && frame.keyframe {
                        player.await_keyframe = false;
                    } else {
                        player.dropped += 1;
                        return;
                    }
                }
                self.send_frame(stream_id, &frame);
            }
            LiveEvent::Data { timestamp, values } => {
                if !player.paused {
                    self.session
                        .send_data(stream_id, timestamp, values.to_vec());
                }
            }
            LiveEvent::Published => {
                let name = player.name.clone();
                player.await_keyframe = false;
                player.published = true;
                self.session
                    .send_status(stream_id, Status::NetStreamPlayPublishNotify.info(&name));
            }
            LiveEvent::Unpublished => {
                let name = player.name.clone();
                player.published = false;
                self.session
                    .send_status(stream_id, Status::NetStreamPlayUnpublishNotify.info(&name));
            }
        }
    }

    /// Gateway shutdown: publishers are told Unpublish.Success, subscribers UnpublishNotify.
    fn shut_down(&mut self) {
        let ids: Vec<StreamId> = self.roles.keys().copied().collect();
        for stream_id in ids {
            // Whether the publisher's connection closed first or not, a subscriber that was
            // last told "published" hears UnpublishNotify.
            if let Some(Role::Playing(player)) = self.roles.get(&stream_id) {
                if player.published {
                    let name = player.name.clone();
                    self.session
                        .send_status(stream_id, Status::NetStreamPlayUnpublishNotify.info(&name));
                }
            }
            self.close_stream(stream_id, true);
        }
    }

    /// Connection gone: a publisher that did not unpublish is unpublished now.
    fn release(&mut self) {
        let ids: Vec<StreamId> = self.roles.keys().copied().collect();
        for stream_id in ids {
            self.close_stream(stream_id, false);
        }
    }
}

/// True once the gateway is shutting down (or its shutdown channel is gone); an atomic load
/// while nothing happened.
fn shutting_down(shutdown: &mut watch::Receiver<bool>) -> bool {
    match shutdown.has_changed() {
        Ok(false) => false,
        Ok(true) => *shutdown.borrow_and_update(),
        Err(_) => true,
    }
}

/// The registry key of a stream name: without its query string (tokens and the like).
fn stream_key(name: &str) -> &str {
    name.split_once('?').map_or(name, |(key, _)| key)
}
