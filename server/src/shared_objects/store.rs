//! Persistent shared objects on disk: `ROOT/APP/NAME.amf`, written whole after each batch of
//! changes by one writer task, each time as recordings are finalised (a temporary file,
//! fsync, rename over the old one, fsync of the folder), so a crash or `kill -9` leaves
//! either the old file or the new one, never half of one. Writes of one object that pile up
//! while the disk is busy are coalesced: only the latest is written.
//!
//! The file is AMF0: the string `rtmpws-shared-object/1`, the version (number), then a strict
//! array of `[slot, value, version of its last change]` triples. AMF keeps every value as it
//! was sent (dates, byte arrays, typed objects), which JSON would not.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rtmpws_protocol::amf::{amf0, DecodeLimits, Value};
use tokio::sync::Notify;
use tracing::{debug, warn};

use crate::names::plain_path;
use crate::sync::lock;

const MAGIC: &str = "rtmpws-shared-object/1";
const EXTENSION: &str = "amf";

/// One stored object: its version and its slots with the version of their last change.
pub type Stored = (u32, Vec<(String, Value, u32)>);

/// The folder of persistent objects and its writer.
pub struct Store {
    root: PathBuf,
    pending: Mutex<HashMap<(String, String), Vec<u8>>>,
    wake: Notify,
}

impl Store {
    pub fn new(root: PathBuf) -> Arc<Store> {
        let store = Arc::new(Store {
            root,
            pending: Mutex::default(),
            wake: Notify::new(),
        });
        // Outside a runtime (unit tests) nothing is written.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(write_loop(Arc::clone(&store)));
        }
        store
    }

    /// The file of `name` in `app`; `None` for names that could leave the folder.
    pub fn path(&self, app: &str, name: &str) -> Option<PathBuf> {
        let app = plain_path(app).filter(|p| p.components().count() == 1)?;
        valid_name(name).then(|| self.root.join(app).join(format!("{name}.{EXTENSION}")))
    }

    /// Queues `bytes` (made by [`encode`]) to become the file of `name` in `app`.
    pub fn save(&self, app: &str, name: &str, bytes: Vec<u8>) {
        lock(&self.pending).insert((app.to_owned(), name.to_owned()), bytes);
        self.wake.notify_one();
    }

    /// Every object stored for `app` (blocking: called once, at startup).
    pub fn load_app(&self, app: &str) -> Vec<(String, Stored)> {
        let Some(dir) = self
            .path(app, "x")
            .and_then(|p| p.parent().map(Path::to_owned))
        else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut objects = Vec::new();
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(name) = file_name
                .to_str()
                .and_then(|f| f.strip_suffix(&format!(".{EXTENSION}")))
            else {
                continue;
            };
            if !valid_name(name) {
                continue;
            }
            match std::fs::read(entry.path()).ok().and_then(|b| decode(&b)) {
                Some(stored) => objects.push((name.to_owned(), stored)),
                None => {
                    warn!(path = %entry.path().display(), "unreadable shared object file skipped")
                }
            }
        }
        objects.sort_by(|a, b| a.0.cmp(&b.0));
        objects
    }
}

/// Whether `name` can be a shared object's name: 1 to 200 bytes, no path separators, NUL,
/// control characters or colon, not starting with a dot. The same rule holds for every
/// object, persistent or not, so a name never means a file outside its folder.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, '/' | '\\' | ':'))
}

/// The file's bytes for an object.
pub fn encode(version: u32, slots: &[(&str, &Value, u32)]) -> Vec<u8> {
    let triples = slots
        .iter()
        .map(|(slot, value, changed)| {
            Value::StrictArray(vec![
                (*slot).into(),
                (*value).clone(),
                Value::Number(f64::from(*changed)),
            ])
        })
        .collect();
    let mut out = Vec::new();
    amf0::encode_all(
        &[
            MAGIC.into(),
            Value::Number(f64::from(version)),
            Value::StrictArray(triples),
        ],
        &mut out,
    );
    out
}

/// An object from its file's bytes; `None` if they are not one.
pub fn decode(bytes: &[u8]) -> Option<Stored> {
    let limits = DecodeLimits {
        max_input: usize::MAX,
        ..DecodeLimits::default()
    };
    let values = amf0::decode_all(bytes, limits).ok()?;
    let [Value::String(magic), Value::Number(version), Value::StrictArray(triples)] = &values[..]
    else {
        return None;
    };
    if magic != MAGIC {
        return None;
    }
    let version = as_u32(*version)?;
    let mut slots = Vec::new();
    for triple in triples {
        let Value::StrictArray(parts) = triple else {
            return None;
        };
        let [Value::String(slot), value, Value::Number(changed)] = &parts[..] else {
            return None;
        };
        slots.push((slot.clone(), value.clone(), as_u32(*changed)?));
    }
    Some((version, slots))
}

fn as_u32(n: f64) -> Option<u32> {
    (n >= 0.0 && n <= f64::from(u32::MAX) && n.fract() == 0.0).then_some(n as u32)
}

async fn write_loop(store: Arc<Store>) {
    loop {
        store.wake.notified().await;
        let batch = std::mem::take(&mut *lock(&store.pending));
        for ((app, name), bytes) in batch {
            let Some(path) = store.path(&app, &name) else {
                continue;
            };
            let shown = path.display().to_string();
            match tokio::task::spawn_blocking(move || write_atomically(&path, &bytes)).await {
                Ok(Ok(())) => debug!(path = %shown, "shared object stored"),
                Ok(Err(e)) => warn!(path = %shown, "cannot store shared object: {e}"),
                Err(e) => warn!(path = %shown, "shared object writer failed: {e}"),
            }
        }
    }
}

/// Replaces `path` with `bytes` so that a crash at any point leaves the old or the new file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Hidden, so a leftover from a crash is never loaded as an object.
    let tmp = dir.join(format!(".{file_name}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_and_other_bytes_are_refused() {
        let value = Value::object([("when", Value::Date(5.0))]);
        let bytes = encode(9, &[("a", &value, 3), ("b", &Value::Number(1.0), 9)]);
        assert_eq!(
            decode(&bytes),
            Some((
                9,
                vec![
                    ("a".into(), value.clone(), 3),
                    ("b".into(), Value::Number(1.0), 9)
                ]
            ))
        );
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(decode(b"not amf"), None);
        let mut other = Vec::new();
        amf0::encode_all(&["x".into(), Value::Number(1.0)], &mut other);
        assert_eq!(decode(&other), None);
    }

    #[test]
    fn names_that_could_leave_the_folder_are_refused() {
        let store = Store::new("/tmp/so-root".into());
        assert_eq!(
            store.path("live", "chat"),
            Some(PathBuf::from("/tmp/so-root/live/chat.amf"))
        );
        for bad in ["", "../x", "a/b", "a\\b", ".hidden", "c:x", "a\0b", "a\nb"] {
            assert!(store.path("live", bad).is_none(), "{bad:?}");
        }
        assert!(store.path("../etc", "x").is_none());
        assert!(store.path("a/b", "x").is_none());
        assert!(!valid_name(&"n".repeat(201)));
    }

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("rtmpws-so-{}", std::process::id()));
        let path = dir.join("live").join("o.amf");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["o.amf"]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
