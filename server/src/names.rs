//! Stream names as clients send them: untrusted text that becomes a live stream's key and,
//! for recorded items and recordings, a path under a folder it must never leave.
//!
//! One type holds both readings so live play, VOD and recording cannot disagree about what
//! a name means: `cam?token=1` is the live stream `cam`, and the file `cam.flv`.

use std::path::{Component, Path, PathBuf};

/// A name a client gave to `play`, `publish` or `getStreamLength`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamName {
    /// The name without its query string: the live stream's key.
    key: String,
    /// What followed the first `?` (tokens and the like), without the `?`.
    query: Option<String>,
}

/// A name that cannot be a file inside its folder.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not an acceptable stream name")]
pub struct BadName(pub String);

impl StreamName {
    pub fn parse(raw: &str) -> StreamName {
        let (key, query) = match raw.split_once('?') {
            Some((key, query)) => (key, Some(query.to_owned())),
            None => (raw, None),
        };
        StreamName {
            key: key.to_owned(),
            query,
        }
    }

    /// The live stream this name refers to.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The query string, if the name had one.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// A numeric query parameter (`track` in `cam?track=1`); `None` when absent or not 0..=255.
    pub fn track_param(&self, key: &str) -> Option<u8> {
        self.query()?
            .split('&')
            .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
            .and_then(|value| value.parse().ok())
    }

    /// The file this name refers to, relative to its application's folder: the FMS `flv:`
    /// prefix removed and `.flv` added when the name has no extension (`clip`, `clip.flv`
    /// and `flv:clip` are one file). Refused when it could lead out of the folder.
    pub fn item_path(&self) -> Result<PathBuf, BadName> {
        let name = self.key.strip_prefix("flv:").unwrap_or(&self.key);
        let path = plain_path(name).ok_or_else(|| BadName(self.key.clone()))?;
        Ok(if path.extension().is_some() {
            path
        } else {
            path.with_extension("flv")
        })
    }
}

/// `name` as a relative path made only of plain, visible components; `None` for anything
/// that could escape its folder (`..`, absolute paths, drive letters, backslashes, NUL).
pub fn plain_path(name: &str) -> Option<PathBuf> {
    if name.is_empty() || name.contains(['\0', '\\', ':']) || name.starts_with('/') {
        return None;
    }
    let path = Path::new(name);
    let plain = path
        .components()
        .all(|c| matches!(c, Component::Normal(part) if !part.to_string_lossy().starts_with('.')));
    plain.then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_not_part_of_the_key_or_the_file() {
        let name = StreamName::parse("cam?sign=1-ab&x=2");
        assert_eq!(name.key(), "cam");
        assert_eq!(name.query(), Some("sign=1-ab&x=2"));
        assert_eq!(name.item_path(), Ok(PathBuf::from("cam.flv")));
        assert_eq!(StreamName::parse("cam").query(), None);
        let name = StreamName::parse("cam?sign=1&track=2&audioTrack=300");
        assert_eq!(name.track_param("track"), Some(2));
        assert_eq!(name.track_param("audioTrack"), None);
        assert_eq!(StreamName::parse("cam").track_param("track"), None);
    }

    #[test]
    fn one_file_for_every_spelling_of_a_recorded_item() {
        for raw in ["clip", "clip.flv", "flv:clip", "clip?token=1"] {
            assert_eq!(
                StreamName::parse(raw).item_path(),
                Ok(PathBuf::from("clip.flv")),
                "{raw}"
            );
        }
        assert_eq!(
            StreamName::parse("sub/deep").item_path(),
            Ok(PathBuf::from("sub/deep.flv"))
        );
    }

    #[test]
    fn names_that_could_leave_their_folder_are_refused() {
        for raw in [
            "../private/secret",
            "/etc/passwd",
            "..",
            "sub/../../x",
            "a\0b",
            "..\\private",
            ".hidden",
            "sub/.hidden",
            "c:clip",
            "",
            "?only=query",
        ] {
            assert!(StreamName::parse(raw).item_path().is_err(), "{raw:?}");
        }
    }
}
