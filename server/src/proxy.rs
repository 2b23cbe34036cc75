//! The client's own address when the gateway sits behind a load balancer or reverse proxy:
//! `X-Forwarded-For` on WebSocket upgrades, the PROXY protocol (v1 text or v2 binary, as
//! HAProxy, nginx and cloud load balancers send it) on the TCP listeners. Both are believed
//! only from the configured `trusted_proxies`; from anyone else they are a client's claim
//! and change nothing, so no client can pass for another address (and escape a per-address
//! limit) by writing a header.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use ppp::{v1, v2, HeaderResult, PartialResult};
use tokio::net::TcpStream;

/// Longest PROXY header read (the v2 fixed part, addresses and a few TLVs; HAProxy's own
/// recommendation for a receive buffer).
pub const MAX_PROXY_HEADER: usize = 536;

/// The networks whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A `trusted_proxies` entry that is neither an address nor a network.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("trusted_proxies: {0:?} is not an address (10.0.0.1) or a network (10.0.0.0/8)")]
pub struct BadNetwork(pub String);

impl TrustedProxies {
    /// From config entries such as `"127.0.0.1"`, `"10.0.0.0/8"`, `"::1"`.
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, BadNetwork> {
        entries
            .iter()
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadNetwork(entry.clone()))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client behind `peer` by an `X-Forwarded-For` header: walking the list from the
    /// right (the entry the nearest proxy added), the first address that is not a trusted
    /// proxy. Without a trusted `peer`, or without a usable header, `peer` itself.
    pub fn forwarded_client(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let Some(list) = forwarded_for else {
            return peer;
        };
        let mut client = peer;
        for entry in list.rsplit(',') {
            let Ok(address) = entry.trim().parse::<IpAddr>() else {
                // Garbage in the chain: stop at the last address known good.
                return client;
            };
            client = address;
            if !self.contains(address) {
                return address;
            }
        }
        client
    }
}

/// IPv4 addresses seen through an IPv6 socket (`::ffff:10.0.0.1`) compare as IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Why a PROXY header was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ProxyError {
    #[error("no PROXY header (v1 or v2) where one was expected")]
    Invalid,
    #[error("PROXY header over {MAX_PROXY_HEADER} bytes")]
    TooLong,
    #[error("the connection closed before its PROXY header was complete")]
    Closed,
    #[error("no PROXY header within {0:?}")]
    TimedOut(Duration),
    #[error("reading the PROXY header: {0}")]
    Io(String),
}

/// Parses a PROXY header at the front of `buf`: `Ok(None)` while incomplete, else its
/// length and the source address it names (`None` for v1 UNKNOWN, v2 LOCAL or a Unix
/// socket: the connection is the proxy's own, e.g. a health check).
pub fn parse_proxy_header(buf: &[u8]) -> Result<Option<(usize, Option<SocketAddr>)>, ProxyError> {
    // A v1 line is judged only once whole (its parser takes some cuts of a line for errors).
    const V1_MAX: usize = 107;
    let v1_prefix = &b"PROXY "[..buf.len().min(6)];
    if buf.starts_with(v1_prefix) && !buf.windows(2).any(|w| w == b"\r\n") {
        return if buf.len() < V1_MAX {
            Ok(None)
        } else {
            Err(ProxyError::TooLong)
        };
    }
    let parsed = HeaderResult::parse(buf);
    if parsed.is_incomplete() {
        return if buf.len() >= MAX_PROXY_HEADER {
            Err(ProxyError::TooLong)
        } else {
            Ok(None)
        };
    }
    let (len, source) = match parsed {
        HeaderResult::V1(Ok(header)) => {
            let source = match header.addresses {
                v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Unknown => None,
            };
            (header.header.len(), source)
        }
        HeaderResult::V2(Ok(header)) => {
            let source = match (header.command, header.addresses) {
                (v2::Command::Proxy, v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                (v2::Command::Proxy, v2::Addresses::IPv6(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                _ => None,
            };
            (header.len(), source)
        }
        HeaderResult::V1(Err(_)) | HeaderResult::V2(Err(_)) => return Err(ProxyError::Invalid),
    };
    if len > MAX_PROXY_HEADER {
        return Err(ProxyError::TooLong);
    }
    Ok(Some((len, source)))
}

/// Reads the PROXY header a trusted proxy sends first on `stream`, and nothing after it
/// (the bytes are peeked until the header is whole, then exactly its length is consumed, so
/// the RTMP handshake or TLS that follows is untouched). Returns the client's address.
pub async fn read_proxy_header(
    stream: &TcpStream,
    timeout: Duration,
) -> Result<Option<SocketAddr>, ProxyError> {
    let read = async {
        let mut buf = [0u8; MAX_PROXY_HEADER];
        let mut seen = 0;
        loop {
            let n = stream
                .peek(&mut buf)
                .await
                .map_err(|e| ProxyError::Io(e.to_string()))?;
            if n == 0 {
                return Err(ProxyError::Closed);
            }
            if let Some((len, source)) = parse_proxy_header(&buf[..n])? {
                consume(stream, len).await?;
                return Ok(source);
            }
            if n == seen {
                // Nothing new yet: wait until the socket has more than it had.
                stream
                    .readable()
                    .await
                    .map_err(|e| ProxyError::Io(e.to_string()))?;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seen = n;
        }
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| ProxyError::TimedOut(timeout))?
}

/// Takes exactly `len` bytes off the socket (they were peeked already).
async fn consume(stream: &TcpStream, mut len: usize) -> Result<(), ProxyError> {
    let mut sink = [0u8; MAX_PROXY_HEADER];
    while len > 0 {
        stream
            .readable()
            .await
            .map_err(|e| ProxyError::Io(e.to_string()))?;
        match stream.try_read(&mut sink[..len]) {
            Ok(0) => return Err(ProxyError::Closed),
            Ok(n) => len -= n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(ProxyError::Io(e.to_string())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_and_networks_are_trusted_and_garbage_is_refused() {
        let proxies = trusted(&["10.0.0.0/8", "192.0.2.7", "::1"]);
        assert!(proxies.contains(ip("10.1.2.3")));
        assert!(proxies.contains(ip("192.0.2.7")));
        assert!(
            proxies.contains(ip("::ffff:10.0.0.1")),
            "IPv4 seen through IPv6"
        );
        assert!(proxies.contains(ip("::1")));
        assert!(!proxies.contains(ip("192.0.2.8")));
        assert_eq!(
            TrustedProxies::parse(&["10.0.0.0/33".into()]),
            Err(BadNetwork("10.0.0.0/33".into()))
        );
        assert!(TrustedProxies::parse(&["proxy.example".into()]).is_err());
    }

    #[test]
    fn x_forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let chain = Some("203.0.113.9, 10.0.0.5");
        // Through two of our proxies: the client is the first address that is not ours.
        assert_eq!(
            proxies.forwarded_client(ip("10.0.0.1"), chain),
            ip("203.0.113.9")
        );
        // A client that writes the header itself is its own address.
        assert_eq!(
            proxies.forwarded_client(ip("198.51.100.1"), Some("1.2.3.4")),
            ip("198.51.100.1")
        );
        // A spoofed entry left of the real client is never reached.
        assert_eq!(
            proxies.forwarded_client(ip("10.0.0.1"), Some("1.2.3.4, 203.0.113.9")),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies.forwarded_client(ip("10.0.0.1"), None),
            ip("10.0.0.1")
        );
        assert_eq!(
            proxies.forwarded_client(ip("10.0.0.1"), Some("garbage")),
            ip("10.0.0.1")
        );
        assert_eq!(
            proxies.forwarded_client(ip("10.0.0.1"), Some("10.0.0.2")),
            ip("10.0.0.2"),
            "only proxies in the chain"
        );
    }

    #[test]
    fn proxy_headers_v1_and_v2_give_the_source_and_their_length() {
        let v1 = b"PROXY TCP4 203.0.113.9 10.0.0.1 51000 1935\r\n\x03rest";
        let (len, source) = parse_proxy_header(v1).unwrap().unwrap();
        assert_eq!(&v1[len..], b"\x03rest");
        assert_eq!(source, Some("203.0.113.9:51000".parse().unwrap()));
        for cut in 1..len {
            assert_eq!(parse_proxy_header(&v1[..cut]), Ok(None), "{cut}");
        }
        assert_eq!(
            parse_proxy_header(b"PROXY UNKNOWN\r\n").unwrap().unwrap(),
            (15, None)
        );
        let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        v2.extend_from_slice(&[0x21, 0x11, 0, 12]);
        v2.extend_from_slice(&[203, 0, 113, 9, 10, 0, 0, 1, 0xC7, 0x38, 0x07, 0x8F]);
        v2.push(0x03);
        let (len, source) = parse_proxy_header(&v2).unwrap().unwrap();
        assert_eq!(len, 28);
        assert_eq!(source, Some("203.0.113.9:51000".parse().unwrap()));
    }

    #[test]
    fn other_bytes_and_endless_headers_are_refused() {
        // An RTMP handshake where a PROXY header belongs.
        let mut c0c1 = vec![3u8];
        c0c1.extend_from_slice(&[0; 64]);
        assert_eq!(parse_proxy_header(&c0c1), Err(ProxyError::Invalid));
        let endless = [b"PROXY TCP4 ".as_slice(), &[b'1'; 600]].concat();
        assert!(parse_proxy_header(&endless).is_err());
        let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        v2.extend_from_slice(&[0x21, 0x11, 0xFF, 0xFF]);
        v2.resize(MAX_PROXY_HEADER, 0);
        assert_eq!(parse_proxy_header(&v2), Err(ProxyError::TooLong));
    }
}
