//! TLS for the https:// (and wss://) and rtmps:// listeners: the certificate and key from the
//! `[tls]` PEM files, and the server side of the handshake, bounded in time. What comes out of
//! a handshake is a byte stream like a TCP socket's, served by the same HTTP handler and
//! connection driver as the plain listeners.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;
use crate::http::HttpStream;
use crate::transport::ReadReady;

/// Why the TLS certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS {what} file {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("TLS {what} file {path} is not valid PEM: {source}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        source: pem::Error,
    },
    #[error("TLS certificate file {0} holds no certificate (expected PEM \"BEGIN CERTIFICATE\")")]
    NoCertificate(PathBuf),
    #[error("TLS key file {0} holds no private key (expected PEM \"BEGIN PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\")")]
    NoKey(PathBuf),
    #[error("TLS certificate file {cert} and key file {key} cannot be used: {source}")]
    Unusable {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// Why one TLS connection did not get past its handshake.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("TLS handshake failed: {0}")]
    Failed(io::Error),
    #[error("no TLS handshake within {0:?}")]
    TimedOut(Duration),
}

/// The loaded certificate and key, ready to accept TLS connections.
#[derive(Clone)]
pub struct Tls {
    /// For https:// and wss://: offers HTTP/1.1 by ALPN.
    https: TlsAcceptor,
    /// For rtmps://: no ALPN (RTMP clients offer none).
    rtmps: TlsAcceptor,
}

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy)]
pub enum Service {
    Https,
    Rtmps,
}

impl Tls {
    /// Reads the `[tls]` certificate chain and key; `None` when no TLS listener is configured.
    pub fn load(config: &TlsConfig) -> Result<Option<Tls>, TlsError> {
        let (Some(cert_path), Some(key_path)) = (&config.cert, &config.key) else {
            return Ok(None);
        };
        if !config.enabled() {
            return Ok(None);
        }
        let certs = read_certificates(cert_path)?;
        let key = read_key(key_path)?;
        let unusable = |source| TlsError::Unusable {
            cert: cert_path.clone(),
            key: key_path.clone(),
            source,
        };
        // The ring provider, chosen here rather than as a process-wide default.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let rtmps = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(unusable)?
            .with_no_client_auth()
            // Also checks that the key is the certificate's.
            .with_single_cert(certs, key)
            .map_err(unusable)?;
        let mut https = rtmps.clone();
        https.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(Tls {
            https: TlsAcceptor::from(Arc::new(https)),
            rtmps: TlsAcceptor::from(Arc::new(rtmps)),
        }))
    }

    /// The server side of the handshake on `stream`, for `service`, within `timeout`.
    pub async fn accept(
        &self,
        stream: TcpStream,
        service: Service,
        timeout: Duration,
    ) -> Result<TlsStream<TcpStream>, HandshakeError> {
        let acceptor = match service {
            Service::Https => &self.https,
            Service::Rtmps => &self.rtmps,
        };
        match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(HandshakeError::Failed(e)),
            Err(_) => Err(HandshakeError::TimedOut(timeout)),
        }
    }
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_text = read_file("certificate", path)?;
    let certs = CertificateDer::pem_slice_iter(&pem_text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            what: "certificate",
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem_text = read_file("key", path)?;
    PrivateKeyDer::from_pem_slice(&pem_text).map_err(|source| match source {
        pem::Error::NoItemsFound => TlsError::NoKey(path.to_owned()),
        source => TlsError::Pem {
            what: "key",
            path: path.to_owned(),
            source,
        },
    })
}

/// The WebSocket transport waits for socket readiness only after a read found nothing
/// buffered, which for TLS means rustls had no plaintext left and the socket itself would
/// block (rustls never holds back plaintext it has): the TCP socket's readiness is the
/// stream's.
impl ReadReady for TlsStream<TcpStream> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_ref().0.poll_read_ready(cx)
    }
}

impl HttpStream for TlsStream<TcpStream> {
    fn set_nodelay(&self) -> io::Result<()> {
        self.get_ref().0.set_nodelay(true)
    }
}
