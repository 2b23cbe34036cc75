//! Relay addresses as nginx-rtmp reads a `push` or `pull` URL:
//! `rtmp://HOST[:PORT]/APP[/NAME][?QUERY]`. The first path segment is the application; what
//! follows it, if anything, is the stream name at the other end (otherwise the local name, or
//! the app's `push_name`, is used). A query is added to the stream name the other end is
//! asked for (`NAME?QUERY`), which is where servers look for keys and signed names.

use std::fmt;

/// The port of `rtmp://` URLs that name none.
pub const DEFAULT_PORT: u16 = 1935;

/// A parsed relay URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayUrl {
    pub host: String,
    pub port: u16,
    pub app: String,
    /// The stream name at the other end, when the URL gives one.
    pub name: Option<String>,
    /// Added to the stream name asked for, without its `?`.
    pub query: Option<String>,
}

/// Why a relay URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("{0:?} is not an rtmp:// URL (rtmps:// relays are not made)")]
    Scheme(String),
    #[error("{0:?} names no host")]
    NoHost(String),
    #[error("{0:?} has a port that is not a number from 1 to 65535")]
    Port(String),
    #[error("{0:?} names no application (rtmp://HOST[:PORT]/APP[/NAME])")]
    NoApp(String),
    #[error("{0:?} is longer than {MAX_URL} bytes")]
    TooLong(String),
}

/// Longest relay URL accepted (from the config or a callback's Location).
pub const MAX_URL: usize = 2048;

impl RelayUrl {
    pub fn parse(url: &str) -> Result<RelayUrl, UrlError> {
        let bad = || url.to_owned();
        if url.len() > MAX_URL {
            return Err(UrlError::TooLong(url.chars().take(64).collect()));
        }
        let rest = url
            .strip_prefix("rtmp://")
            .ok_or_else(|| UrlError::Scheme(bad()))?;
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query.to_owned()).filter(|q| !q.is_empty())),
            None => (rest, None),
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = split_host_port(authority).ok_or_else(|| UrlError::Port(bad()))?;
        if host.is_empty() || host.contains(['@', ' ']) {
            return Err(UrlError::NoHost(bad()));
        }
        let (app, name) = match path.split_once('/') {
            Some((app, name)) => (app, Some(name.to_owned()).filter(|n| !n.is_empty())),
            None => (path, None),
        };
        if app.is_empty() {
            return Err(UrlError::NoApp(bad()));
        }
        Ok(RelayUrl {
            host: host.to_owned(),
            port,
            app: app.to_owned(),
            name,
            query,
        })
    }

    /// What `connect` carries as tcUrl: `rtmp://HOST:PORT/APP`.
    pub fn tc_url(&self) -> String {
        format!("rtmp://{}/{}", self.authority(), self.app)
    }

    /// `HOST:PORT`, with brackets around an IPv6 address.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The name to ask the other end for: the URL's own name or `fallback`, with the URL's
    /// query after it.
    pub fn stream_name(&self, fallback: &str) -> String {
        let name = self.name.as_deref().unwrap_or(fallback);
        match &self.query {
            Some(query) => match name.contains('?') {
                true => format!("{name}&{query}"),
                false => format!("{name}?{query}"),
            },
            None => name.to_owned(),
        }
    }
}

/// For logs and stats: the URL without its query, which may hold a key.
impl fmt::Display for RelayUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rtmp://{}/{}", self.authority(), self.app)?;
        if let Some(name) = &self.name {
            write!(f, "/{name}")?;
        }
        Ok(())
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`; `None` for a bad port.
fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, parse_port(port)?)),
            None if after.is_empty() => Some((host, DEFAULT_PORT)),
            None => None,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host, parse_port(port)?)),
        None => Some((authority, DEFAULT_PORT)),
    }
}

fn parse_port(port: &str) -> Option<u16> {
    port.parse::<u16>().ok().filter(|p| *p != 0)
}

/// A push target's stream name from the app's `push_name` template: `{name}` is the local
/// stream name, `{app}` the local application.
pub fn mapped_name(template: &str, app: &str, name: &str) -> String {
    template.replace("{name}", name).replace("{app}", app)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_segment_is_the_app_the_rest_the_name() {
        let url = RelayUrl::parse("rtmp://origin.example:1936/live").unwrap();
        assert_eq!(
            (
                url.host.as_str(),
                url.port,
                url.app.as_str(),
                url.name.as_deref()
            ),
            ("origin.example", 1936, "live", None)
        );
        assert_eq!(url.tc_url(), "rtmp://origin.example:1936/live");
        assert_eq!(url.stream_name("cam"), "cam");

        let url = RelayUrl::parse("rtmp://h/live/sub/cam?key=s3cret").unwrap();
        assert_eq!(url.port, DEFAULT_PORT);
        assert_eq!(url.name.as_deref(), Some("sub/cam"));
        assert_eq!(url.stream_name("ignored"), "sub/cam?key=s3cret");
        assert_eq!(
            url.to_string(),
            "rtmp://h:1935/live/sub/cam",
            "no key in logs"
        );

        let url = RelayUrl::parse("rtmp://[::1]:2000/app?k=1").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 2000));
        assert_eq!(url.tc_url(), "rtmp://[::1]:2000/app");
        assert_eq!(url.stream_name("cam?sign=1-ab"), "cam?sign=1-ab&k=1");
    }

    #[test]
    fn urls_that_cannot_be_relayed_to_are_refused() {
        for bad in [
            "http://h/live",
            "rtmps://h/live",
            "rtmp://",
            "rtmp:///live",
            "rtmp://h",
            "rtmp://h/",
            "rtmp://h:0/live",
            "rtmp://h:99999/live",
            "rtmp://h:x/live",
            "rtmp://[::1/live",
            "rtmp://user@h/live",
        ] {
            assert!(RelayUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            RelayUrl::parse(&format!("rtmp://h/{}", "a".repeat(3000))),
            Err(UrlError::TooLong(_))
        ));
    }

    #[test]
    fn push_names_map_the_local_name() {
        assert_eq!(mapped_name("{name}_src", "live", "cam"), "cam_src");
        assert_eq!(mapped_name("{app}-{name}", "live", "cam"), "live-cam");
        assert_eq!(mapped_name("fixed", "live", "cam"), "fixed");
    }
}
