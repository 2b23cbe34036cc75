//! Playback of recorded items on one NetStream: a playlist, real-time pacing with a small
//! lead, pause, seek, play2 transitions, receiveAudio/receiveVideo.
//!
//! Runs as its own task so file reads and timers never stall the connection; it reports what
//! to send as [`VodEvent`]s through a bounded channel (a slow client slows reading, nothing
//! piles up) and takes [`VodControl`]s from the connection.

use std::collections::VecDeque;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtmpws_media::flv::{parse_audio_tag, parse_video_tag, FlvItem, FlvReader, FlvTag, TagKind};
use rtmpws_protocol::amf::Value;
use rtmpws_protocol::message::UserControl;
use rtmpws_protocol::status::{Info, Status};
use rtmpws_protocol::MediaKind;
use rtmpws_protocol::{StreamId, Timestamp};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::index::{Index, Keyframe};
use super::library::{Library, LookupError, PlayingGuard};

/// One playlist entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayItem {
    pub name: String,
    /// Where to start, in ms (FMS `start` >= 0; -2 plays recorded items from 0).
    pub start_ms: u32,
    /// How much to play: `None` to the end, `Some(0)` a single frame.
    pub len_ms: Option<u32>,
}

impl PlayItem {
    /// From `play`'s seconds: start < 0 means from the beginning, len < 0 to the end.
    pub fn from_play(name: &str, start: f64, len: f64) -> PlayItem {
        let ms = |s: f64| (s * 1000.0).clamp(0.0, f64::from(u32::MAX)) as u32;
        PlayItem {
            name: name.to_owned(),
            start_ms: if start > 0.0 { ms(start) } else { 0 },
            len_ms: (len >= 0.0).then(|| ms(len)),
        }
    }
}

/// play2's `NetStreamPlayOptions.transition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Append,
    AppendAndWait,
    Reset,
    Resume,
    Stop,
    Swap,
    Switch,
}

impl Transition {
    pub fn parse(s: &str) -> Option<Transition> {
        Some(match s {
            "append" => Transition::Append,
            "appendAndWait" => Transition::AppendAndWait,
            "reset" => Transition::Reset,
            "resume" => Transition::Resume,
            "stop" => Transition::Stop,
            "swap" => Transition::Swap,
            "switch" => Transition::Switch,
            _ => return None,
        })
    }
}

/// What the connection asks of the player.
#[derive(Debug, Clone, PartialEq)]
pub enum VodControl {
    Play {
        item: PlayItem,
        reset: bool,
    },
    Play2 {
        item: PlayItem,
        old_name: Option<String>,
        transition: Transition,
    },
    Pause {
        pause: bool,
        position_ms: f64,
    },
    Seek {
        position_ms: f64,
    },
    ReceiveAudio(bool),
    ReceiveVideo(bool),
}

/// What the connection must send on the stream, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum VodEvent {
    Control(UserControl),
    Status(Info),
    PlayStatus {
        timestamp: Timestamp,
        info: Info,
    },
    /// `|RtmpSampleAccess` and the Data.Start data message.
    SampleAccess,
    Data {
        timestamp: Timestamp,
        values: Vec<Value>,
    },
    Media {
        kind: MediaKind,
        timestamp: Timestamp,
        payload: Bytes,
    },
}

/// The connection's side of a player task; dropping it stops the task.
pub struct VodHandle {
    control: mpsc::Sender<VodControl>,
    task: tokio::task::JoinHandle<()>,
}

impl VodHandle {
    /// Passes a command on; false if the player is gone or flooded (the command is dropped).
    pub fn send(&self, control: VodControl) -> bool {
        self.control.try_send(control).is_ok()
    }
}

impl Drop for VodHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a player for `stream_id`; it waits for its first [`VodControl`]. Its playlist holds
/// at most `max_playlist_items` items waiting behind the one playing.
pub fn spawn(
    library: Arc<Library>,
    app: String,
    stream_id: StreamId,
    lead: Duration,
    max_playlist_items: usize,
) -> (VodHandle, mpsc::Receiver<VodEvent>) {
    let (control_tx, control_rx) = mpsc::channel(64);
    let (event_tx, event_rx) = mpsc::channel(64);
    let player = Player {
        library,
        app,
        stream_id,
        out: event_tx,
        lead,
        queue: VecDeque::new(),
        max_queue: max_playlist_items,
        current: None,
        last: None,
        paused: false,
        audio: true,
        video: true,
    };
    let task = tokio::spawn(player.run(control_rx));
    (
        VodHandle {
            control: control_tx,
            task,
        },
        event_rx,
    )
}

/// An item being played.
struct Current {
    item: PlayItem,
    path: PathBuf,
    index: Arc<Index>,
    file: tokio::fs::File,
    reader: FlvReader,
    /// Pacing: the tag with timestamp `origin_ts` is due at `origin_at`.
    origin_ts: u32,
    origin_at: Instant,
    end_ts: Option<u32>,
    pending: Option<FlvTag>,
    last_ts: u32,
    bytes: u64,
    /// Skip video (and audio) until a video keyframe: after turning video back on, or when a
    /// play2 switch takes over.
    await_keyframe: bool,
    /// Sent as onPlayStatus just before the first frame of a play2 transition.
    transition_complete: Option<String>,
    /// Keeps recordings from writing into the file while it plays.
    _playing: PlayingGuard,
}

struct Player {
    library: Arc<Library>,
    app: String,
    stream_id: StreamId,
    out: mpsc::Sender<VodEvent>,
    lead: Duration,
    queue: VecDeque<PlayItem>,
    /// Most items `queue` may hold; an append past it is refused with Play.Failed.
    max_queue: usize,
    current: Option<Current>,
    /// The item that finished last, so a seek after Play.Complete replays it.
    last: Option<PlayItem>,
    paused: bool,
    audio: bool,
    video: bool,
}

/// Why the task must end: the connection is gone.
struct Gone;

impl Player {
    async fn run(mut self, mut control: mpsc::Receiver<VodControl>) {
        loop {
            if self.pump().await.is_err() {
                return;
            }
            let due = self.next_due();
            let command = tokio::select! {
                command = control.recv() => command,
                _ = tokio::time::sleep_until(due.unwrap_or_else(far_future)), if due.is_some() => continue,
            };
            let Some(command) = command else { return };
            if self.handle(command).await.is_err() {
                return;
            }
        }
    }

    async fn emit(&self, event: VodEvent) -> Result<(), Gone> {
        self.out.send(event).await.map_err(|_| Gone)
    }

    async fn status(&self, info: Info) -> Result<(), Gone> {
        self.emit(VodEvent::Status(info)).await
    }

    async fn control(&self, event: fn(StreamId) -> UserControl) -> Result<(), Gone> {
        self.emit(VodEvent::Control(event(self.stream_id))).await
    }

    /// The file behind a name, indexed, or the status that says why not.
    async fn open(&self, item: &PlayItem) -> Result<(PathBuf, Arc<Index>), Info> {
        let not_found = || Status::NetStreamPlayStreamNotFound.info(&item.name);
        let path = match self.library.resolve(&self.app, &item.name) {
            Ok(path) => path,
            Err(LookupError::BadName(_) | LookupError::NotFound(_)) => return Err(not_found()),
        };
        let index = self.library.index(&path).await.map_err(|e| {
            Info::new(
                Status::NetStreamPlayFailed,
                format!("Failed to play {}: {e}", item.name),
            )
            .details(&item.name)
        })?;
        if index.not_flv {
            let why = index
                .damage
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            let info = Info::new(
                Status::NetStreamPlayFileStructureInvalid,
                format!("{} is not a valid FLV file: {why}", item.name),
            );
            return Err(info.details(&item.name));
        }
        if !index.playable() {
            let info = Info::new(
                Status::NetStreamPlayNoSupportedTrackFound,
                format!(
                    "{} has no H.264, HEVC, AV1 or VP9 video nor AAC, Opus or FLAC audio track",
                    item.name
                ),
            );
            return Err(info.details(&item.name));
        }
        Ok((path, index))
    }

    /// Opens the file at the keyframe at or before `ms`, paced from now.
    async fn position(
        &self,
        item: PlayItem,
        path: PathBuf,
        index: Arc<Index>,
        ms: u32,
    ) -> std::io::Result<Current> {
        let start = index.start_at_or_before(ms).unwrap_or(Keyframe {
            timestamp: 0,
            offset: 0,
        });
        let mut current = self.reader_at(item, path, index, start).await?;
        current.end_ts = current.item.len_ms.map(|len| ms.saturating_add(len));
        Ok(current)
    }

    async fn reader_at(
        &self,
        item: PlayItem,
        path: PathBuf,
        index: Arc<Index>,
        start: Keyframe,
    ) -> std::io::Result<Current> {
        let mut file = tokio::fs::File::open(&path).await?;
        let guard = self.library.play_guard(&path);
        let mut reader = FlvReader::new();
        // Resume mid-file: a synthetic header, then the PreviousTagSize before the tag.
        reader.push(b"FLV\x01\x05\x00\x00\x00\x09");
        let from = start.offset.saturating_sub(4);
        if from == 0 {
            reader = FlvReader::new();
        } else {
            file.seek(SeekFrom::Start(from)).await?;
        }
        Ok(Current {
            item,
            path,
            index,
            file,
            reader,
            origin_ts: start.timestamp,
            origin_at: Instant::now(),
            end_ts: None,
            pending: None,
            last_ts: start.timestamp,
            bytes: 0,
            await_keyframe: false,
            transition_complete: None,
            _playing: guard,
        })
    }

    /// Play.Start and what follows it: sample access, metadata, sequence headers.
    async fn start_sequence(&self, name: &str, index: &Index) -> Result<(), Gone> {
        self.status(Status::NetStreamPlayStart.info(name)).await?;
        self.emit(VodEvent::SampleAccess).await?;
        if let Some(metadata) = &index.metadata {
            self.emit(VodEvent::Data {
                timestamp: Timestamp::ZERO,
                values: metadata.clone(),
            })
            .await?;
        }
        self.send_headers(index, Timestamp::ZERO).await
    }

    /// The AAC and AVC sequence headers of an item.
    async fn send_headers(&self, index: &Index, timestamp: Timestamp) -> Result<(), Gone> {
        let headers = [
            (MediaKind::Audio, &index.audio_header),
            (MediaKind::Video, &index.video_header),
        ];
        for (kind, header) in headers {
            if let Some(payload) = header.clone() {
                self.emit(VodEvent::Media {
                    kind,
                    timestamp,
                    payload,
                })
                .await?;
            }
        }
        Ok(())
    }

    /// Starts `item` now: StreamIsRecorded, StreamBegin, (Play.Reset), Play.Start, ...
    async fn start(&mut self, item: PlayItem, reset: bool) -> Result<(), Gone> {
        let (path, index) = match self.open(&item).await {
            Ok(found) => found,
            Err(info) => return self.status(info).await,
        };
        let ms = item.start_ms;
        let current = match self
            .position(item.clone(), path, Arc::clone(&index), ms)
            .await
        {
            Ok(current) => current,
            Err(e) => return self.status(read_failed(&item.name, &e)).await,
        };
        self.control(UserControl::StreamIsRecorded).await?;
        self.control(UserControl::StreamBegin).await?;
        if reset {
            self.status(Status::NetStreamPlayReset.info(&item.name))
                .await?;
        }
        self.start_sequence(&item.name, &index).await?;
        self.current = Some(current);
        self.paused = false;
        Ok(())
    }

    async fn handle(&mut self, command: VodControl) -> Result<(), Gone> {
        match command {
            VodControl::Play { item, reset: true } => {
                self.queue.clear();
                self.current = None;
                self.start(item, true).await
            }
            VodControl::Play { item, reset: false } => {
                if self.current.is_some() {
                    self.enqueue(item).await
                } else {
                    self.start(item, false).await
                }
            }
            VodControl::Play2 {
                item,
                old_name,
                transition,
            } => self.play2(item, old_name, transition).await,
            VodControl::Pause { pause, position_ms } => self.pause(pause, position_ms).await,
            VodControl::Seek { position_ms } => self.seek(position_ms).await,
            VodControl::ReceiveAudio(enabled) => {
                self.audio = enabled;
                Ok(())
            }
            VodControl::ReceiveVideo(enabled) => {
                if enabled && !self.video {
                    if let Some(current) = &mut self.current {
                        current.await_keyframe = true;
                    }
                }
                self.video = enabled;
                Ok(())
            }
        }
    }

    fn current_name(&self) -> String {
        self.current
            .as_ref()
            .map(|c| c.item.name.clone())
            .or_else(|| self.last.as_ref().map(|i| i.name.clone()))
            .unwrap_or_default()
    }

    async fn pause(&mut self, pause: bool, position_ms: f64) -> Result<(), Gone> {
        let name = self.current_name();
        if pause {
            self.paused = true;
            self.control(UserControl::StreamEof).await?;
            return self.status(Status::NetStreamPauseNotify.info(&name)).await;
        }
        self.paused = false;
        // Resume from the time the client gives (its playhead), at the keyframe before it.
        if let Some(current) = self.current.take() {
            let ms = clamp_ms(position_ms);
            match self
                .position(
                    current.item.clone(),
                    current.path.clone(),
                    Arc::clone(&current.index),
                    ms,
                )
                .await
            {
                Ok(mut resumed) => {
                    resumed.end_ts = current.end_ts;
                    self.current = Some(resumed);
                }
                Err(e) => return self.status(read_failed(&name, &e)).await,
            }
        }
        self.control(UserControl::StreamBegin).await?;
        self.status(Status::NetStreamUnpauseNotify.info(&name))
            .await?;
        self.status(Status::NetStreamPlayStart.info(&name)).await
    }

    async fn seek(&mut self, position_ms: f64) -> Result<(), Gone> {
        let item = match (&self.current, &self.last) {
            (Some(current), _) => current.item.clone(),
            (None, Some(last)) => last.clone(),
            (None, None) => {
                let info = Info::new(
                    Status::NetStreamSeekFailed,
                    "Seek failed: nothing is playing on this stream.",
                );
                return self.status(info).await;
            }
        };
        let (path, index) = match self.open(&item).await {
            Ok(found) => found,
            Err(info) => return self.status(info).await,
        };
        let ms = clamp_ms(position_ms);
        if ms > index.duration_ms {
            let description = format!(
                "Seeking {ms} (stream ID: {}) failed: {} is {} ms long.",
                self.stream_id, item.name, index.duration_ms
            );
            return self
                .status(Info::new(Status::NetStreamSeekFailed, description).details(&item.name))
                .await;
        }
        let end_ts = self.current.as_ref().and_then(|c| c.end_ts);
        let mut current = match self
            .position(item.clone(), path, Arc::clone(&index), ms)
            .await
        {
            Ok(current) => current,
            Err(e) => return self.status(read_failed(&item.name, &e)).await,
        };
        current.end_ts = end_ts;
        self.current = Some(current);
        self.control(UserControl::StreamEof).await?;
        self.control(UserControl::StreamIsRecorded).await?;
        self.control(UserControl::StreamBegin).await?;
        let description = format!("Seeking {ms} (stream ID: {}).", self.stream_id);
        self.status(Info::new(Status::NetStreamSeekNotify, description).details(&item.name))
            .await?;
        self.start_sequence(&item.name, &index).await?;
        if self.paused {
            self.show_one_frame().await?;
        }
        Ok(())
    }

    /// While paused, a seek still shows the picture at the new position, as FMS does: the
    /// keyframe it starts from. Playback resumes from the position the client gives.
    async fn show_one_frame(&mut self) -> Result<(), Gone> {
        let Some(current) = self.current.as_mut() else {
            return Ok(());
        };
        while let Some(tag) = read_tag(current).await {
            let is_keyframe = tag.kind == TagKind::Video
                && parse_video_tag(&tag.data).is_ok_and(|info| info.is_keyframe());
            if is_keyframe {
                let event = VodEvent::Media {
                    kind: MediaKind::Video,
                    timestamp: Timestamp(tag.timestamp),
                    payload: tag.data,
                };
                return self.emit(event).await;
            }
        }
        Ok(())
    }

    /// Adds `item` to the end of the playlist, or refuses it with Play.Failed when the
    /// playlist is full: the client hears why, and nothing grows.
    async fn enqueue(&mut self, item: PlayItem) -> Result<(), Gone> {
        if self.queue.len() >= self.max_queue {
            let info = Info::new(
                Status::NetStreamPlayFailed,
                format!(
                    "Cannot add {} to the playlist: {} items are already waiting, the most \
                     allowed.",
                    item.name,
                    self.queue.len()
                ),
            );
            return self.status(info.details(&item.name)).await;
        }
        self.queue.push_back(item);
        Ok(())
    }

    async fn play2(
        &mut self,
        item: PlayItem,
        old_name: Option<String>,
        transition: Transition,
    ) -> Result<(), Gone> {
        let transition_status = |name: &str| {
            Info::new(
                Status::NetStreamPlayTransition,
                Status::NetStreamPlayTransition.describe(name),
            )
            .details(name)
            .field("reason", "NetStream.Transition.Success")
        };
        let failed = |why: String| Info::new(Status::NetStreamPlayFailed, why).details(&item.name);
        match transition {
            Transition::Reset => {
                self.queue.clear();
                self.current = None;
                self.start(item, true).await
            }
            Transition::Append => {
                if self.current.is_some() {
                    self.enqueue(item).await
                } else {
                    self.start(item, false).await
                }
            }
            Transition::AppendAndWait => self.enqueue(item).await,
            Transition::Resume => match self.queue.pop_front() {
                Some(next) if self.current.is_none() => self.start(next, false).await,
                Some(next) => {
                    self.queue.push_front(next);
                    Ok(())
                }
                None if self.current.is_none() => self.start(item, false).await,
                None => Ok(()),
            },
            Transition::Stop => {
                let name = self.current_name();
                self.queue.clear();
                self.current = None;
                self.status(Status::NetStreamPlayStop.info(&name)).await?;
                self.control(UserControl::StreamEof).await
            }
            Transition::Swap
                if old_name.as_deref() != self.current.as_ref().map(|c| c.item.name.as_str()) =>
            {
                // Swap replaces a queued item, which takes over when its turn comes.
                let Some(slot) = self
                    .queue
                    .iter()
                    .position(|queued| Some(&queued.name) == old_name.as_ref())
                else {
                    return self
                        .status(failed(format!(
                            "play2 swap: {} is not in the playlist",
                            old_name.unwrap_or_default()
                        )))
                        .await;
                };
                if let Err(info) = self.open(&item).await {
                    return self
                        .status(failed(format!(
                            "play2 swap to {}: {}",
                            item.name,
                            describe(&info)
                        )))
                        .await;
                }
                self.queue[slot] = item.clone();
                self.status(transition_status(&item.name)).await
            }
            Transition::Switch | Transition::Swap => {
                let Some(current) = self.current.take() else {
                    return self
                        .status(failed(format!(
                            "play2 {}: nothing is playing to transition from",
                            item.name
                        )))
                        .await;
                };
                let (path, index) = match self.open(&item).await {
                    Ok(found) => found,
                    Err(info) => {
                        self.current = Some(current);
                        return self
                            .status(failed(format!(
                                "play2 switch to {}: {}",
                                item.name,
                                describe(&info)
                            )))
                            .await;
                    }
                };
                // The new stream takes over at its first keyframe after what was already sent.
                let Some(keyframe) = index.keyframe_at_or_after(current.last_ts.saturating_add(1))
                else {
                    let why = format!(
                        "play2 switch to {}: it has no keyframe after {} ms",
                        item.name, current.last_ts
                    );
                    self.current = Some(current);
                    return self.status(failed(why)).await;
                };
                let mut next = match self.reader_at(item.clone(), path, index, keyframe).await {
                    Ok(next) => next,
                    Err(e) => {
                        self.current = Some(current);
                        return self.status(read_failed(&item.name, &e)).await;
                    }
                };
                // Keep the pacing clock of the stream being replaced: same timeline.
                next.origin_ts = current.origin_ts;
                next.origin_at = current.origin_at;
                next.bytes = 0;
                next.transition_complete = Some(item.name.clone());
                self.status(transition_status(&item.name)).await?;
                self.current = Some(next);
                Ok(())
            }
        }
    }

    /// When the pending tag is due, if playing.
    fn next_due(&self) -> Option<Instant> {
        let current = self.current.as_ref().filter(|_| !self.paused)?;
        let tag = current.pending.as_ref()?;
        Some(self.due_at(current, tag.timestamp))
    }

    fn due_at(&self, current: &Current, timestamp: u32) -> Instant {
        let ahead = Duration::from_millis(u64::from(timestamp.saturating_sub(current.origin_ts)));
        (current.origin_at + ahead)
            .checked_sub(self.lead)
            .unwrap_or(current.origin_at)
    }

    /// Sends every tag that is due; reads ahead one tag.
    async fn pump(&mut self) -> Result<(), Gone> {
        loop {
            if self.paused {
                return Ok(());
            }
            let Some(current) = self.current.as_mut() else {
                return Ok(());
            };
            if current.pending.is_none() {
                match read_tag(current).await {
                    Some(tag) => current.pending = Some(tag),
                    None => {
                        self.finish_item().await?;
                        continue;
                    }
                }
            }
            let current = self.current.as_ref().expect("checked above");
            let tag = current.pending.as_ref().expect("just filled");
            if current
                .end_ts
                .is_some_and(|end| tag.timestamp >= end && tag.timestamp > current.origin_ts)
            {
                self.finish_item().await?;
                continue;
            }
            if Instant::now() < self.due_at(current, tag.timestamp) {
                return Ok(());
            }
            let current = self.current.as_mut().expect("checked above");
            let Some(tag) = current.pending.take() else {
                continue;
            };
            let single_frame = current.item.len_ms == Some(0);
            if let Some(event) = filter(current, tag, self.audio, self.video) {
                if let Some(name) = current.transition_complete.take() {
                    let info = Info::new(
                        Status::NetStreamPlayTransitionComplete,
                        Status::NetStreamPlayTransitionComplete.describe(&name),
                    )
                    .details(&name);
                    let timestamp = match &event {
                        VodEvent::Media { timestamp, .. } => *timestamp,
                        _ => Timestamp(current.last_ts),
                    };
                    let index = Arc::clone(&current.index);
                    self.emit(VodEvent::PlayStatus { timestamp, info }).await?;
                    // The new stream's decoder configuration, which may differ from the old one's.
                    self.send_headers(&index, timestamp).await?;
                }
                let is_video = matches!(
                    event,
                    VodEvent::Media {
                        kind: MediaKind::Video,
                        ..
                    }
                );
                self.emit(event).await?;
                if single_frame && is_video {
                    self.finish_item().await?;
                }
            }
        }
    }

    /// The current item ended: the next one in the playlist, or Play.Complete and Play.Stop.
    async fn finish_item(&mut self) -> Result<(), Gone> {
        let Some(done) = self.current.take() else {
            return Ok(());
        };
        let play_status = |status: Status, name: &str| {
            Info::new(status, status.describe(name))
                .field("duration", done.index.duration_secs())
                .field("bytes", done.bytes as f64)
        };
        self.last = Some(done.item.clone());
        let timestamp = Timestamp(done.last_ts);
        while let Some(next) = self.queue.pop_front() {
            let (path, index) = match self.open(&next).await {
                Ok(found) => found,
                Err(info) => {
                    self.status(info).await?;
                    continue;
                }
            };
            let current = match self
                .position(next.clone(), path, Arc::clone(&index), next.start_ms)
                .await
            {
                Ok(current) => current,
                Err(e) => {
                    self.status(read_failed(&next.name, &e)).await?;
                    continue;
                }
            };
            self.control(UserControl::StreamEof).await?;
            self.emit(VodEvent::PlayStatus {
                timestamp,
                info: play_status(Status::NetStreamPlaySwitch, &next.name).details(&next.name),
            })
            .await?;
            self.control(UserControl::StreamIsRecorded).await?;
            self.control(UserControl::StreamBegin).await?;
            self.start_sequence(&next.name, &index).await?;
            self.current = Some(current);
            return Ok(());
        }
        let name = done.item.name.clone();
        self.emit(VodEvent::PlayStatus {
            timestamp,
            info: play_status(Status::NetStreamPlayComplete, &name),
        })
        .await?;
        self.status(Status::NetStreamPlayStop.info(&name)).await?;
        self.control(UserControl::StreamEof).await
    }
}

/// The next tag of the current item, `None` at the end of the file or at damage (a damaged
/// file plays up to the damage and ends cleanly).
async fn read_tag(current: &mut Current) -> Option<FlvTag> {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match current.reader.next_item() {
            Ok(Some(FlvItem::Tag(tag))) => return Some(tag),
            Ok(Some(FlvItem::Header(_))) => continue,
            Ok(None) => {}
            Err(_) => return None,
        }
        match current.file.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => current.reader.push(&buf[..n]),
        }
    }
}

/// What of a tag reaches the client: script data and repeated sequence headers are already
/// sent at the start of the item; receiveAudio/receiveVideo and keyframe waits apply.
fn filter(current: &mut Current, tag: FlvTag, audio: bool, video: bool) -> Option<VodEvent> {
    let kind = match tag.kind {
        TagKind::Audio => MediaKind::Audio,
        TagKind::Video => MediaKind::Video,
        TagKind::Script | TagKind::Other(_) => return None,
    };
    let (header, keyframe) = match kind {
        MediaKind::Video => match parse_video_tag(&tag.data) {
            Ok(info) => (info.is_sequence_header(), info.is_keyframe()),
            Err(_) => return None,
        },
        MediaKind::Audio => match parse_audio_tag(&tag.data) {
            Ok(info) => (info.is_sequence_header(), false),
            Err(_) => return None,
        },
    };
    if header {
        let known = match kind {
            MediaKind::Audio => &current.index.audio_header,
            MediaKind::Video => &current.index.video_header,
        };
        if known.as_ref() == Some(&tag.data) {
            return None;
        }
    } else {
        if !(match kind {
            MediaKind::Audio => audio,
            MediaKind::Video => video,
        }) {
            return None;
        }
        if current.await_keyframe {
            if kind == MediaKind::Video && keyframe {
                current.await_keyframe = false;
            } else {
                return None;
            }
        }
    }
    current.last_ts = tag.timestamp;
    current.bytes += tag.data.len() as u64;
    Some(VodEvent::Media {
        kind,
        timestamp: Timestamp(tag.timestamp),
        payload: tag.data,
    })
}

fn read_failed(name: &str, e: &std::io::Error) -> Info {
    Info::new(
        Status::NetStreamPlayFailed,
        format!("Failed to read {name}: {e}"),
    )
    .details(name)
}

fn describe(info: &Info) -> String {
    info.clone()
        .into_value()
        .get_str("description")
        .unwrap_or_default()
        .to_owned()
}

fn clamp_ms(ms: f64) -> u32 {
    if ms.is_finite() {
        ms.clamp(0.0, f64::from(u32::MAX)) as u32
    } else {
        0
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}
