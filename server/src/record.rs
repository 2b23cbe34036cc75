//! Recording live streams to FLV: `publish(name, "record" | "append" | "appendWithGap")`, or
//! every stream of an app listed in `record_all`.
//!
//! A recorder task per recording writes tags through a buffer flushed in bounded steps (a
//! size cap and a timer), so after a crash the file plays up to the last flush. On a clean stop
//! the file is rewritten once with its final onMetaData (duration, filesize, a keyframe
//! table), into a temporary file renamed over the original, so the original stays intact
//! until the final one is complete. The publisher never waits for the disk: frames reach the
//! task through a bounded channel, and a recorder that cannot keep up fails rather than grows.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use rtmpws_media::flv::{
    write_file_header, write_tag, FlvItem, FlvReader, TagKind, TAG_HEADER_SIZE,
};
use rtmpws_media::tag::parse_video_tag;
use rtmpws_protocol::amf::{amf0, Value};
use rtmpws_protocol::server::PublishMode;
use rtmpws_protocol::MediaKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

use crate::live::MediaFrame;
use crate::names::{plain_path, StreamName};
use crate::vod::library::{scan, Scan};

/// Limits on one recording and on an application's recordings together.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quota {
    pub max_bytes: Option<u64>,
    pub max_duration_ms: Option<u32>,
    /// Bytes all recordings of the app may take together, counting files already there.
    pub app_max_bytes: Option<u64>,
}

/// What the recorder reports; all but `Started` mean the recording has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordEvent {
    Started,
    /// Stopped on request, and the file is final (its metadata rewritten): only now may the
    /// publisher hear Record.Stop, so a player it tells about the file reads the whole of it.
    Stopped,
    /// The file cannot be opened for writing.
    NoAccess(String),
    QuotaExceeded(String),
    Failed(String),
}

/// Why a recording cannot even start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("{0} escapes the record folder")]
    BadName(String),
    #[error("{0} is already being recorded")]
    AlreadyExists(String),
    #[error("{0} is being played right now")]
    InUse(String),
}

/// Files being recorded now, gateway-wide, with the bytes each has so far; and what the
/// other files of each application's folder take, so an application's quota holds for all
/// of its recordings together.
#[derive(Default)]
pub struct Recordings {
    active: Mutex<HashMap<PathBuf, u64>>,
    /// Per application folder: when it was last measured, and the bytes of its files that
    /// are not being recorded.
    measured: Mutex<HashMap<PathBuf, (Instant, u64)>>,
}

/// How long a folder's measure is trusted before it is taken again.
const MEASURE_EVERY: Duration = Duration::from_secs(1);
/// How deep, and how many entries, a folder measure reads at most.
const MEASURE_DEPTH: usize = 8;
const MEASURE_ENTRIES: usize = 100_000;

impl Recordings {
    /// True while no recording is being written or finalised.
    pub fn is_empty(&self) -> bool {
        self.active().is_empty()
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, u64>> {
        crate::sync::lock(&self.active)
    }

    fn set_written(&self, path: &Path, bytes: u64) {
        if let Some(written) = self.active().get_mut(path) {
            *written = bytes;
        }
    }

    /// Bytes the application folder `folder` takes: its files as last measured (at most
    /// [`MEASURE_EVERY`] ago), plus every recording in it as written so far.
    async fn folder_use(&self, folder: &Path) -> u64 {
        let recording = |active: &HashMap<PathBuf, u64>| -> u64 {
            active
                .iter()
                .filter(|(path, _)| path.starts_with(folder))
                .map(|(_, bytes)| bytes)
                .sum()
        };
        let fresh = crate::sync::lock(&self.measured)
            .get(folder)
            .filter(|(at, _)| at.elapsed() < MEASURE_EVERY)
            .map(|(_, bytes)| *bytes);
        let on_disk = match fresh {
            Some(bytes) => bytes,
            None => {
                let skip: HashSet<PathBuf> = self.active().keys().cloned().collect();
                let bytes = folder_size(folder, &skip).await;
                crate::sync::lock(&self.measured)
                    .insert(folder.to_owned(), (Instant::now(), bytes));
                bytes
            }
        };
        on_disk + recording(&self.active())
    }
}

/// Removes a path from [`Recordings`] when the recording is over; its folder is measured
/// afresh next time, now with the file on disk.
struct ActiveGuard {
    recordings: Arc<Recordings>,
    path: PathBuf,
    folder: PathBuf,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.recordings.active().remove(&self.path);
        crate::sync::lock(&self.recordings.measured).remove(&self.folder);
    }
}

/// Where a recording goes, and the application folder whose quota it counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordTarget {
    pub path: PathBuf,
    pub folder: PathBuf,
}

/// Where a recording of `name` in `app` goes: `RECORD_DIR/APP/NAME.flv`.
pub fn record_path(root: &Path, app: &str, name: &StreamName) -> Result<RecordTarget, RecordError> {
    let bad = || RecordError::BadName(name.key().to_owned());
    let folder = root.join(plain_path(app).ok_or_else(bad)?);
    let relative = name.item_path().map_err(|_| bad())?;
    let path = folder.join(relative);
    // An existing file (or a symlink) must really be inside the folder.
    let (real, real_root) =
        crate::sync::off_runtime(|| (std::fs::canonicalize(&path), std::fs::canonicalize(root)));
    if let (Ok(real), Ok(real_root)) = (real, real_root) {
        if !real.starts_with(real_root) {
            return Err(bad());
        }
    }
    Ok(RecordTarget { path, folder })
}

enum Command {
    Media(Arc<MediaFrame>),
    Data(u32, Arc<Vec<Value>>),
    Stop,
}

/// A running recording; [`Recorder::stop`] ends it cleanly, dropping it too.
pub struct Recorder {
    tx: mpsc::Sender<Command>,
    /// Set when a frame could not be queued: the file would have a hole, so the task stops
    /// and reports Record.Failed.
    overflowed: Arc<AtomicBool>,
}

/// How often buffered tags are handed to the OS at the latest.
const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// Frames queued for the disk before the recorder counts as failing.
const QUEUE: usize = 2048;

impl Recorder {
    /// Starts recording into `path`; events arrive on the returned channel.
    pub fn start(
        target: RecordTarget,
        mode: PublishMode,
        quota: Quota,
        recordings: Arc<Recordings>,
        playing: impl Fn(&Path) -> bool,
    ) -> Result<(Recorder, mpsc::Receiver<RecordEvent>), RecordError> {
        let RecordTarget { path, folder } = target;
        let name = path.display().to_string();
        if playing(&path) {
            return Err(RecordError::InUse(name));
        }
        {
            let mut active = recordings.active();
            if active.contains_key(&path) {
                return Err(RecordError::AlreadyExists(name));
            }
            active.insert(path.clone(), 0);
        }
        let guard = ActiveGuard {
            recordings: Arc::clone(&recordings),
            path: path.clone(),
            folder: folder.clone(),
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        let (events, events_rx) = mpsc::channel(8);
        let overflowed = Arc::new(AtomicBool::new(false));
        let task_overflowed = Arc::clone(&overflowed);
        tokio::spawn(async move {
            let _guard = guard;
            let outcome = match Writer::open(&path, folder, mode, quota, recordings).await {
                Ok(writer) => {
                    let _ = events.send(RecordEvent::Started).await;
                    writer.run(rx, &task_overflowed).await
                }
                Err(e) => Err(RecordEvent::NoAccess(format!(
                    "cannot write {}: {e}",
                    path.display()
                ))),
            };
            let _ = events
                .send(outcome.err().unwrap_or(RecordEvent::Stopped))
                .await;
        });
        Ok((Recorder { tx, overflowed }, events_rx))
    }

    pub fn media(&mut self, frame: &Arc<MediaFrame>) {
        self.send(Command::Media(Arc::clone(frame)));
    }

    pub fn data(&mut self, timestamp: u32, values: Arc<Vec<Value>>) {
        self.send(Command::Data(timestamp, values));
    }

    fn send(&mut self, command: Command) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(command) {
            self.overflowed.store(true, Ordering::Relaxed);
        }
    }

    /// Ends the recording; the file is finalised in the background, then
    /// [`RecordEvent::Stopped`] is reported.
    pub fn stop(self) {
        let _ = self.tx.try_send(Command::Stop);
    }
}

/// The writing side, inside the recorder task.
struct Writer {
    path: PathBuf,
    file: BufWriter<tokio::fs::File>,
    /// Bytes in the file, including what is buffered.
    written: u64,
    quota: Quota,
    /// The application folder the quota counts, and every recording's share of it.
    folder: PathBuf,
    recordings: Arc<Recordings>,
    /// When the recording started, by the gateway's clock: the duration limit does not trust
    /// the publisher's timestamps.
    started: Instant,
    /// Timestamps written are `offset + (ts - first_ts)`.
    offset: u32,
    first_ts: Option<u32>,
    last_ts: u32,
}

impl Writer {
    async fn open(
        path: &Path,
        folder: PathBuf,
        mode: PublishMode,
        quota: Quota,
        recordings: Arc<Recordings>,
    ) -> std::io::Result<Writer> {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let existing = match mode {
            PublishMode::Append | PublishMode::AppendWithGap => existing_file(path).await?,
            PublishMode::Record | PublishMode::Live => None,
        };
        let (file, written, offset) = match existing {
            Some(Existing {
                good_len,
                last_ts,
                modified,
            }) => {
                let file = tokio::fs::OpenOptions::new().write(true).open(path).await?;
                // Drop a torn last tag (a crash mid-write) before appending.
                file.set_len(good_len).await?;
                let mut file = file;
                tokio::io::AsyncSeekExt::seek(&mut file, std::io::SeekFrom::End(0)).await?;
                let gap = match mode {
                    PublishMode::AppendWithGap => {
                        let since = SystemTime::now()
                            .duration_since(modified)
                            .unwrap_or_default();
                        u32::try_from(since.as_millis()).unwrap_or(u32::MAX)
                    }
                    _ => 1,
                };
                (file, good_len, last_ts.saturating_add(gap))
            }
            None => {
                let mut file = tokio::fs::File::create(path).await?;
                let mut header = Vec::new();
                write_file_header(true, true, &mut header);
                file.write_all(&header).await?;
                (file, header.len() as u64, 0)
            }
        };
        recordings.set_written(path, written);
        Ok(Writer {
            path: path.to_owned(),
            file: BufWriter::with_capacity(64 * 1024, file),
            written,
            quota,
            folder,
            recordings,
            started: Instant::now(),
            offset,
            first_ts: None,
            last_ts: offset,
        })
    }

    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Command>,
        overflowed: &AtomicBool,
    ) -> Result<(), RecordEvent> {
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        let result = loop {
            if overflowed.load(Ordering::Relaxed) {
                let why = format!(
                    "recording {} fell behind the stream and stopped",
                    self.path.display()
                );
                break Err(RecordEvent::Failed(why));
            }
            let command = tokio::select! {
                command = rx.recv() => command,
                _ = flush.tick() => {
                    if let Err(e) = self.file.flush().await {
                        break Err(RecordEvent::Failed(format!("writing {}: {e}", self.path.display())));
                    }
                    continue;
                }
            };
            let outcome = match command {
                Some(Command::Media(frame)) => self.media(&frame).await,
                Some(Command::Data(ts, values)) => self.data(ts, &values).await,
                Some(Command::Stop) | None => break Ok(()),
            };
            if let Err(event) = outcome {
                break Err(event);
            }
        };
        // Whatever ended it, what was written is made a complete, seekable file.
        let finished = self.finish().await;
        result.and(finished)
    }

    fn timestamp(&mut self, ts: u32) -> u32 {
        let first = *self.first_ts.get_or_insert(ts);
        self.offset.saturating_add(ts.saturating_sub(first))
    }

    async fn media(&mut self, frame: &MediaFrame) -> Result<(), RecordEvent> {
        let kind = match frame.kind {
            MediaKind::Audio => TagKind::Audio,
            MediaKind::Video => TagKind::Video,
        };
        let ts = self.timestamp(frame.timestamp.0);
        self.check_quota(frame.payload.len()).await?;
        self.write(kind, ts, &frame.payload).await
    }

    async fn data(&mut self, ts: u32, values: &[Value]) -> Result<(), RecordEvent> {
        let mut body = Vec::new();
        amf0::encode_all(values, &mut body);
        let ts = if self.first_ts.is_some() {
            self.timestamp(ts)
        } else {
            self.offset
        };
        self.check_quota(body.len()).await?;
        self.write(TagKind::Script, ts, &body).await
    }

    async fn check_quota(&self, len: usize) -> Result<(), RecordEvent> {
        let tag = (TAG_HEADER_SIZE + len + 4) as u64;
        let next = self.written + tag;
        if let Some(max) = self.quota.max_bytes {
            if next > max {
                return Err(RecordEvent::QuotaExceeded(format!(
                    "the recording reached its {max}-byte limit"
                )));
            }
        }
        if let Some(max) = self.quota.app_max_bytes {
            if self.recordings.folder_use(&self.folder).await + tag > max {
                return Err(RecordEvent::QuotaExceeded(format!(
                    "the application's recordings reached their {max}-byte limit"
                )));
            }
        }
        if let Some(max) = self.quota.max_duration_ms {
            if self.started.elapsed() > Duration::from_millis(u64::from(max)) {
                return Err(RecordEvent::QuotaExceeded(format!(
                    "the recording reached its {max} ms limit"
                )));
            }
        }
        Ok(())
    }

    async fn write(&mut self, kind: TagKind, ts: u32, body: &[u8]) -> Result<(), RecordEvent> {
        let mut tag = Vec::with_capacity(TAG_HEADER_SIZE + body.len() + 4);
        if let Err(e) = write_tag(kind, ts, body, &mut tag) {
            return Err(RecordEvent::Failed(e.to_string()));
        }
        self.file
            .write_all(&tag)
            .await
            .map_err(|e| RecordEvent::Failed(format!("writing {}: {e}", self.path.display())))?;
        self.written += tag.len() as u64;
        self.recordings.set_written(&self.path, self.written);
        self.last_ts = self.last_ts.max(ts);
        Ok(())
    }

    /// Flushes, then rewrites the file with its final metadata.
    async fn finish(mut self) -> Result<(), RecordEvent> {
        let failed = |e: std::io::Error| {
            RecordEvent::Failed(format!("finishing {}: {e}", self.path.display()))
        };
        self.file.flush().await.map_err(failed)?;
        self.file.get_mut().sync_data().await.map_err(failed)?;
        finalize(&self.path).await.map_err(failed)
    }
}

/// What an existing file offers to append to.
struct Existing {
    good_len: u64,
    last_ts: u32,
    modified: SystemTime,
}

async fn existing_file(path: &Path) -> std::io::Result<Option<Existing>> {
    let meta = match tokio::fs::metadata(path).await {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let index = scan(path, Scan::Whole).await?;
    if index.not_flv {
        return Ok(None);
    }
    Ok(Some(Existing {
        good_len: index.end_offset.clamp(13, meta.len().max(13)),
        last_ts: index.last_timestamp,
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    }))
}

/// Bytes of the files under `folder` (subfolders included, a bounded walk), but for those
/// in `skip`.
async fn folder_size(folder: &Path, skip: &HashSet<PathBuf>) -> u64 {
    let mut total = 0;
    let mut seen = 0;
    let mut pending = vec![(folder.to_owned(), 0)];
    while let Some((dir, depth)) = pending.pop() {
        let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
            continue;
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            seen += 1;
            if seen > MEASURE_ENTRIES {
                return total;
            }
            let Ok(kind) = entry.file_type().await else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() && depth < MEASURE_DEPTH {
                pending.push((path, depth + 1));
            } else if kind.is_file() && !skip.contains(&path) {
                total += entry.metadata().await.map_or(0, |m| m.len());
            }
        }
    }
    total
}

/// Rewrites a recorded FLV with one onMetaData first that carries the final duration,
/// filesize and keyframe table (as ffmpeg's `add_keyframe_index` writes it), so players and
/// the gateway's own index can seek without scanning.
async fn finalize(path: &Path) -> std::io::Result<()> {
    // Pass 1: the tags to keep, where the keyframes will land, the original metadata.
    let mut metadata: Option<Vec<(String, Value)>> = None;
    let (mut has_audio, mut has_video) = (false, false);
    let mut keyframes: Vec<(u32, u64)> = Vec::new();
    let mut body_len = 0u64;
    let mut last_ts = 0u32;
    for_each_tag(path, |kind, ts, data| {
        if let Some(values) = script_metadata(kind, data) {
            metadata.get_or_insert(values);
            return;
        }
        match kind {
            TagKind::Audio => has_audio = true,
            TagKind::Video => {
                has_video = true;
                // The media crate's one keyframe rule, for every codec (legacy and enhanced):
                // a coded picture with frame type 1, never a header, end or command.
                let key = parse_video_tag(data)
                    .is_ok_and(|info| info.is_keyframe() && info.track_id == 0);
                if key {
                    keyframes.push((ts, body_len));
                }
            }
            _ => {}
        }
        last_ts = last_ts.max(ts);
        body_len += (TAG_HEADER_SIZE + data.len() + 4) as u64;
    })
    .await?;

    let build = |base: u64| -> Vec<u8> {
        let mut props: Vec<(String, Value)> = metadata
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "duration"
                        | "filesize"
                        | "lasttimestamp"
                        | "lastkeyframetimestamp"
                        | "keyframes"
                )
            })
            .collect();
        let seconds = |ms: u32| Value::Number(f64::from(ms) / 1000.0);
        props.push(("duration".into(), seconds(last_ts)));
        props.push(("filesize".into(), Value::Number((base + body_len) as f64)));
        props.push(("lasttimestamp".into(), seconds(last_ts)));
        props.push((
            "lastkeyframetimestamp".into(),
            seconds(keyframes.last().map_or(0, |k| k.0)),
        ));
        let times = keyframes.iter().map(|(ts, _)| seconds(*ts)).collect();
        let positions = keyframes
            .iter()
            .map(|(_, at)| Value::Number((base + at) as f64))
            .collect();
        props.push((
            "keyframes".into(),
            Value::object([
                ("times", Value::StrictArray(times)),
                ("filepositions", Value::StrictArray(positions)),
            ]),
        ));
        let mut body = Vec::new();
        amf0::encode_all(&["onMetaData".into(), Value::EcmaArray(props)], &mut body);
        let mut tag = Vec::new();
        // Metadata bodies are far below the 16 MiB tag limit; a failure writes nothing.
        let _ = write_tag(TagKind::Script, 0, &body, &mut tag);
        tag
    };
    let mut header = Vec::new();
    write_file_header(has_audio, has_video, &mut header);
    // Numbers are 9 bytes whatever their value, so the tag's size does not depend on `base`.
    let base = header.len() as u64 + build(0).len() as u64;
    let meta_tag = build(base);

    // Pass 2: header, metadata, the kept tags, into a temporary file renamed over the original.
    let tmp = path.with_extension("flv.finishing");
    let mut out = BufWriter::with_capacity(256 * 1024, tokio::fs::File::create(&tmp).await?);
    out.write_all(&header).await?;
    out.write_all(&meta_tag).await?;
    let mut file = tokio::fs::File::open(path).await?;
    let mut reader = FlvReader::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut tags = Vec::with_capacity(buf.len() + 1024);
    loop {
        while let Ok(Some(item)) = reader.next_item() {
            if let FlvItem::Tag(tag) = item {
                if script_metadata(tag.kind, &tag.data).is_none() {
                    let _ = write_tag(tag.kind, tag.timestamp, &tag.data, &mut tags);
                }
            }
        }
        out.write_all(&tags).await?;
        tags.clear();
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        reader.push(&buf[..n]);
    }
    out.flush().await?;
    out.get_mut().sync_data().await?;
    tokio::fs::rename(&tmp, path).await
}

/// The properties of an onMetaData script tag.
fn script_metadata(kind: TagKind, data: &Bytes) -> Option<Vec<(String, Value)>> {
    if kind != TagKind::Script {
        return None;
    }
    let values = amf0::decode_all(data, Default::default()).ok()?;
    if values.first().and_then(Value::as_str) != Some("onMetaData") {
        return None;
    }
    match values.into_iter().nth(1) {
        Some(Value::EcmaArray(props) | Value::Object(props)) => Some(props),
        _ => Some(Vec::new()),
    }
}

/// Calls `f` for every complete tag of the file, stopping quietly at damage.
async fn for_each_tag(path: &Path, mut f: impl FnMut(TagKind, u32, &Bytes)) -> std::io::Result<()> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut reader = FlvReader::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        loop {
            match reader.next_item() {
                Ok(Some(FlvItem::Tag(tag))) => f(tag.kind, tag.timestamp, &tag.data),
                Ok(Some(FlvItem::Header(_))) => {}
                Ok(None) => break,
                Err(_) => return Ok(()),
            }
        }
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        reader.push(&buf[..n]);
    }
}
