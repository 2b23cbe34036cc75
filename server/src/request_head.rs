//! HTTP request heads: the one reading of the bytes a browser, a load balancer or a hostile
//! client sends first on the HTTP listeners. Pure (no I/O), so it can be fuzzed and tested
//! alone; [`crate::http`] reads the bytes and acts on the result.

/// Largest request head accepted.
pub const MAX_HEAD: usize = 16 * 1024;

/// The parts of a request head the gateway acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// `Sec-WebSocket-Key`, when the request asks for a WebSocket upgrade.
    pub websocket_key: Option<String>,
    pub origin: Option<String>,
    /// `X-Forwarded-For`, believed only from trusted proxies ([`crate::proxy`]).
    pub forwarded_for: Option<String>,
    /// `Authorization`, for the admin API.
    pub authorization: Option<String>,
    /// `Content-Length`, when present and a number.
    pub content_length: Option<usize>,
}

/// Why a request head was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeadError {
    #[error("request head over {MAX_HEAD} bytes")]
    TooLarge,
    #[error("malformed request head: {0}")]
    Malformed(httparse::Error),
}

/// Parses the request head at the front of `buf`: `Ok(None)` while it is incomplete, else
/// the request and the length of its head. Heads over [`MAX_HEAD`] bytes or with more than
/// 48 headers are refused.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Request, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len > MAX_HEAD => Err(HeadError::TooLarge),
        Ok(httparse::Status::Complete(len)) => {
            let header = |name: &str| {
                parsed
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
            };
            let upgrade = header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
            let request = Request {
                method: parsed.method.unwrap_or("GET").to_owned(),
                path: parsed.path.unwrap_or("/").to_owned(),
                websocket_key: header("sec-websocket-key")
                    .filter(|_| upgrade)
                    .map(str::to_owned),
                origin: header("origin").map(str::to_owned),
                forwarded_for: header("x-forwarded-for").map(str::to_owned),
                authorization: header("authorization").map(str::to_owned),
                content_length: header("content-length").and_then(|v| v.trim().parse().ok()),
            };
            Ok(Some((request, len)))
        }
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => Ok(None),
        Ok(httparse::Status::Partial) => Err(HeadError::TooLarge),
        Err(e) => Err(HeadError::Malformed(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_parses_once_complete_and_knows_an_upgrade_from_a_get() {
        let upgrade =
            b"GET /live HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Key: k==\r\nOrigin: https://a.example\r\n\r\nrest";
        let (request, len) = parse_head(upgrade).unwrap().unwrap();
        assert_eq!(&upgrade[len..], b"rest");
        assert_eq!(request.path, "/live");
        assert_eq!(request.websocket_key.as_deref(), Some("k=="));
        assert_eq!(request.origin.as_deref(), Some("https://a.example"));
        for cut in 0..upgrade.len() - 4 {
            assert_eq!(parse_head(&upgrade[..cut]), Ok(None), "{cut} bytes");
        }
        // A key without an Upgrade header is no upgrade.
        let get = b"GET / HTTP/1.1\r\nSec-WebSocket-Key: k==\r\n\r\n";
        assert_eq!(parse_head(get).unwrap().unwrap().0.websocket_key, None);
    }

    #[test]
    fn oversized_and_malformed_heads_are_refused() {
        let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
        huge.resize(MAX_HEAD + 1, b'a');
        assert_eq!(parse_head(&huge), Err(HeadError::TooLarge));
        // Complete, but longer than a head may be.
        huge.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse_head(&huge), Err(HeadError::TooLarge));
        assert!(matches!(
            parse_head(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        let many: String = (0..60).map(|i| format!("H{i}: v\r\n")).collect();
        let head = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(
            parse_head(head.as_bytes()),
            Err(HeadError::Malformed(httparse::Error::TooManyHeaders))
        ));
    }
}
