//! Recorded items on disk: `MEDIA_DIR/APP/NAME.flv`, addressed as `NAME`, `NAME.flv` or
//! `flv:NAME`. Names come from clients and are untrusted: they never leave their folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::io::AsyncReadExt;

use super::index::{Index, IndexBuilder};
use crate::names::{plain_path, StreamName};
use crate::sync::{lock, off_runtime};

/// Why a name does not lead to a recorded item.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LookupError {
    #[error("{0:?} is not an acceptable stream name")]
    BadName(String),
    #[error("no recorded item {0:?}")]
    NotFound(String),
}

/// The recorded items of every application, with a cache of their indexes.
pub struct Library {
    root: PathBuf,
    cache: Mutex<HashMap<PathBuf, Cached>>,
    /// Files being played now (path, players), so recording over them is refused.
    playing: Arc<Mutex<HashMap<PathBuf, usize>>>,
}

/// Marks a file as being played while it lives.
pub struct PlayingGuard {
    playing: Arc<Mutex<HashMap<PathBuf, usize>>>,
    path: PathBuf,
}

impl Drop for PlayingGuard {
    fn drop(&mut self) {
        let mut playing = lock(&self.playing);
        if let Some(count) = playing.get_mut(&self.path) {
            *count -= 1;
            if *count == 0 {
                playing.remove(&self.path);
            }
        }
    }
}

/// An index, valid while the file keeps this modification time and length.
struct Cached {
    modified: SystemTime,
    len: u64,
    index: Arc<Index>,
}

impl Library {
    pub fn new(root: PathBuf) -> Self {
        Library {
            root,
            cache: Mutex::default(),
            playing: Arc::default(),
        }
    }

    /// The file a play name refers to, if it exists inside `APP`'s folder.
    pub fn resolve(&self, app: &str, name: &str) -> Result<PathBuf, LookupError> {
        let relative = StreamName::parse(name)
            .item_path()
            .map_err(|_| LookupError::BadName(name.to_owned()))?;
        let app_dir = plain_path(app).ok_or_else(|| LookupError::BadName(app.to_owned()))?;
        let folder = self.root.join(app_dir);
        let not_found = || LookupError::NotFound(name.to_owned());
        // Symlinks may point anywhere: compare where the file really is with where the
        // folder really is.
        let (real_folder, real_file) = off_runtime(|| {
            let real_folder = std::fs::canonicalize(&folder).map_err(|_| not_found())?;
            let real_file =
                std::fs::canonicalize(folder.join(relative)).map_err(|_| not_found())?;
            Ok::<_, LookupError>((real_folder, real_file))
        })?;
        if !real_file.starts_with(&real_folder) {
            return Err(LookupError::BadName(name.to_owned()));
        }
        match off_runtime(|| std::fs::metadata(&real_file)) {
            Ok(meta) if meta.is_file() => Ok(real_file),
            _ => Err(not_found()),
        }
    }

    /// Marks `path` as played until the guard drops.
    pub fn play_guard(&self, path: &Path) -> PlayingGuard {
        let path = off_runtime(|| std::fs::canonicalize(path)).unwrap_or_else(|_| path.to_owned());
        let mut playing = lock(&self.playing);
        *playing.entry(path.clone()).or_default() += 1;
        PlayingGuard {
            playing: Arc::clone(&self.playing),
            path,
        }
    }

    /// True while some player has `path` open.
    pub fn is_playing(&self, path: &Path) -> bool {
        let path = off_runtime(|| std::fs::canonicalize(path)).unwrap_or_else(|_| path.to_owned());
        let playing = lock(&self.playing);
        playing.contains_key(&path)
    }

    /// The index of a file, scanned once and cached until the file changes.
    pub async fn index(&self, path: &Path) -> std::io::Result<Arc<Index>> {
        let meta = tokio::fs::metadata(path).await?;
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let len = meta.len();
        if let Some(cached) = self.cache().get(path) {
            if cached.modified == modified && cached.len == len {
                return Ok(Arc::clone(&cached.index));
            }
        }
        let index = Arc::new(scan(path, Scan::UntilKeyframeTable(len)).await?);
        let mut cache = self.cache();
        // Keep the cache bounded: it is a convenience, not a store.
        if cache.len() >= 1024 {
            cache.clear();
        }
        cache.insert(
            path.to_owned(),
            Cached {
                modified,
                len,
                index: Arc::clone(&index),
            },
        );
        Ok(index)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Cached>> {
        lock(&self.cache)
    }
}

/// How much of a file [`scan`] reads.
#[derive(Debug, Clone, Copy)]
pub enum Scan {
    /// Every byte: end offset and last timestamp are exact (what an append needs).
    Whole,
    /// Up to an onMetaData keyframe table that makes the index complete, when the file
    /// (of this length) has one: a recorded file of hours is not read to seek in it.
    UntilKeyframeTable(u64),
}

/// The index of the FLV file at `path`, read in large pieces (tokio runs file reads on its
/// blocking pool, off the threads that drive connections).
pub async fn scan(path: &Path, how: Scan) -> std::io::Result<Index> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut builder = IndexBuilder::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 || !builder.push(&buf[..n]) {
            break;
        }
        if let Scan::UntilKeyframeTable(len) = how {
            if let Some(index) = builder.finish_from_metadata(len) {
                return Ok(index);
            }
        }
    }
    Ok(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_metadata_keyframe_table_gives_the_same_index_as_a_scan() {
        let dir = std::env::temp_dir().join(format!("rtmpws-keyframes-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("vod")).unwrap();
        let with_table = dir.join("vod/table.flv");
        let status = std::process::Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=160x120:rate=30",
                "-f",
                "lavfi",
            ])
            .args([
                "-i", "sine", "-t", "5", "-c:v", "libx264", "-g", "30", "-c:a", "aac",
            ])
            .args(["-flvflags", "add_keyframe_index", "-f", "flv"])
            .arg(&with_table)
            .status()
            .expect("ffmpeg is needed for this test");
        assert!(status.success());
        let bytes = std::fs::read(&with_table).unwrap();
        let mut scan = IndexBuilder::new();
        scan.push(&bytes);
        let from_table = scan
            .finish_from_metadata(bytes.len() as u64)
            .expect("ffmpeg wrote a keyframe table");
        let scanned = scan.finish();
        assert_eq!(from_table.keyframes, scanned.keyframes);
        assert!(from_table.duration_ms.abs_diff(scanned.duration_ms) < 100);
        let library = Library::new(dir.clone());
        let indexed = library
            .index(&library.resolve("vod", "table").unwrap())
            .await
            .unwrap();
        assert_eq!(indexed.keyframes, scanned.keyframes);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_map_to_files_inside_the_app_folder_only() {
        let root = std::env::temp_dir().join(format!("rtmpws-library-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("vod/sub")).unwrap();
        std::fs::create_dir_all(root.join("private")).unwrap();
        std::fs::write(root.join("vod/clip.flv"), b"FLV").unwrap();
        std::fs::write(root.join("vod/sub/deep.flv"), b"FLV").unwrap();
        std::fs::write(root.join("private/secret.flv"), b"FLV").unwrap();
        std::os::unix::fs::symlink(root.join("private/secret.flv"), root.join("vod/link.flv"))
            .unwrap();
        let library = Library::new(root.clone());

        for name in ["clip", "clip.flv", "flv:clip", "clip?token=1", "sub/deep"] {
            assert!(
                library.resolve("vod", name).is_ok(),
                "{name}: {:?}",
                library.resolve("vod", name)
            );
        }
        for name in [
            "../private/secret",
            "/etc/passwd",
            "..",
            "sub/../../private/secret",
            "a\0b",
            "..\\private\\secret",
            ".hidden",
            "c:clip",
        ] {
            assert_eq!(
                library.resolve("vod", name),
                Err(LookupError::BadName(name.into())),
                "{name}"
            );
        }
        assert_eq!(
            library.resolve("vod", "link"),
            Err(LookupError::BadName("link".into())),
            "symlink out of the folder"
        );
        assert_eq!(
            library.resolve("vod", "missing"),
            Err(LookupError::NotFound("missing".into()))
        );
        assert_eq!(
            library.resolve("vod", "sub"),
            Err(LookupError::NotFound("sub".into())),
            "a folder is not an item"
        );
        assert!(library.resolve("../private", "secret").is_err());
        let _ = std::fs::remove_dir_all(&root);
    }
}
