//! The live connections, for the admin API and the metrics: one small shared record per
//! connection ([`Client`]) that its driver and its [`crate::connection::Connection`] keep up
//! to date, and the way to end one connection from outside (a kick).
//!
//! The media path only adds to a record's atomic byte and loss counters (once per read, per
//! batch written, per loss); what a connection does (its application, what each NetStream
//! publishes or plays) changes on commands only and sits behind a small lock. Rates are
//! worked out once a second by [`sample_rates`], away from the connections.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::oneshot;

use crate::sync::lock;

/// How a client reached the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// RTMP over TCP.
    Tcp,
    /// RTMP over TLS.
    Rtmps,
    /// RTMP over WebSocket.
    Ws,
    /// RTMP over WebSocket over TLS.
    Wss,
}

impl Transport {
    pub const ALL: [Transport; 4] = [
        Transport::Tcp,
        Transport::Rtmps,
        Transport::Ws,
        Transport::Wss,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Rtmps => "rtmps",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
        }
    }

    /// The transport and the address of a peer as the listeners name it: `IP:PORT`,
    /// `rtmps IP:PORT`, `ws IP:PORT`, `ws tls IP:PORT`.
    pub fn of_peer(peer: &str) -> (Transport, &str) {
        if let Some(addr) = peer.strip_prefix("ws tls ") {
            (Transport::Wss, addr)
        } else if let Some(addr) = peer.strip_prefix("ws ") {
            (Transport::Ws, addr)
        } else if let Some(addr) = peer.strip_prefix("rtmps ") {
            (Transport::Rtmps, addr)
        } else {
            (Transport::Tcp, peer)
        }
    }
}

/// What one NetStream of a client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseKind {
    Publish,
    /// Plays a live stream.
    Live,
    /// Plays recorded items.
    Recorded,
}

impl UseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UseKind::Publish => "publish",
            UseKind::Live => "live",
            UseKind::Recorded => "recorded",
        }
    }
}

/// One NetStream's use, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamUse {
    pub stream_id: u32,
    pub kind: UseKind,
    pub name: String,
    /// A publish whose recorder is writing.
    pub recording: bool,
}

/// What a client does, changed by its commands.
#[derive(Debug, Clone, Default)]
pub struct ClientState {
    /// The application it connected to, once accepted.
    pub app: Option<String>,
    pub uses: Vec<StreamUse>,
}

/// A connection's role, as the metrics count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Before its connect was accepted.
    Connecting,
    /// Connected, publishing and playing nothing.
    Idle,
    Publisher,
    Player,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Connecting, Role::Idle, Role::Publisher, Role::Player];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Connecting => "connecting",
            Role::Idle => "idle",
            Role::Publisher => "publisher",
            Role::Player => "player",
        }
    }
}

impl ClientState {
    pub fn role(&self) -> Role {
        if self.app.is_none() {
            Role::Connecting
        } else if self.uses.iter().any(|u| u.kind == UseKind::Publish) {
            Role::Publisher
        } else if self.uses.is_empty() {
            Role::Idle
        } else {
            Role::Player
        }
    }
}

/// One live connection.
#[derive(Debug)]
pub struct Client {
    pub id: u64,
    /// `IP:PORT` of the peer.
    pub addr: String,
    pub transport: Transport,
    pub since: SystemTime,
    /// Bytes read from and written to the client (RTMP bytes, inside any TLS or WebSocket).
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Live messages this client lost for being slow.
    pub dropped: AtomicU64,
    /// Bits per second over the last [`RATE_WINDOW`], from [`sample_rates`].
    rate_in: AtomicU64,
    rate_out: AtomicU64,
    state: Mutex<ClientState>,
    kick: Mutex<Option<oneshot::Sender<()>>>,
}

impl Client {
    pub fn state(&self) -> ClientState {
        lock(&self.state).clone()
    }

    pub fn set_app(&self, app: &str) {
        lock(&self.state).app = Some(app.to_owned());
    }

    pub fn set_uses(&self, uses: Vec<StreamUse>) {
        lock(&self.state).uses = uses;
    }

    /// (in, out) in bits per second over the last [`RATE_WINDOW`].
    pub fn rates(&self) -> (u64, u64) {
        (
            self.rate_in.load(Ordering::Relaxed),
            self.rate_out.load(Ordering::Relaxed),
        )
    }

    pub fn add_in(&self, bytes: usize) {
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn add_out(&self, bytes: usize) {
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// The registry of live connections.
#[derive(Debug, Default)]
pub struct Clients {
    map: Mutex<HashMap<u64, Arc<Client>>>,
}

/// A connection's place in [`Clients`]: removed when dropped.
pub struct Registration {
    pub client: Arc<Client>,
    clients: Weak<Clients>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(clients) = self.clients.upgrade() {
            lock(&clients.map).remove(&self.client.id);
        }
    }
}

impl Clients {
    /// Adds connection `id` from `peer` (as the listeners name it, see [`Transport::of_peer`]).
    /// The receiver resolves once the admin API asks the connection to end.
    pub fn register(
        self: &Arc<Self>,
        id: u64,
        peer: &str,
    ) -> (Registration, oneshot::Receiver<()>) {
        let (transport, addr) = Transport::of_peer(peer);
        let (tx, rx) = oneshot::channel();
        let client = Arc::new(Client {
            id,
            addr: addr.to_owned(),
            transport,
            since: SystemTime::now(),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            rate_in: AtomicU64::new(0),
            rate_out: AtomicU64::new(0),
            state: Mutex::default(),
            kick: Mutex::new(Some(tx)),
        });
        lock(&self.map).insert(id, Arc::clone(&client));
        let registration = Registration {
            client,
            clients: Arc::downgrade(self),
        };
        (registration, rx)
    }

    pub fn get(&self, id: u64) -> Option<Arc<Client>> {
        lock(&self.map).get(&id).cloned()
    }

    /// Every live connection, by id.
    pub fn list(&self) -> Vec<Arc<Client>> {
        let mut list: Vec<Arc<Client>> = lock(&self.map).values().cloned().collect();
        list.sort_by_key(|c| c.id);
        list
    }

    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Asks connection `id` to end; false if there is no such connection (or it was asked
    /// already).
    pub fn kick(&self, id: u64) -> bool {
        let Some(client) = self.get(id) else {
            return false;
        };
        let sender = lock(&client.kick).take();
        sender.is_some_and(|tx| tx.send(()).is_ok())
    }
}

/// The window rates are measured over.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Keeps every client's rates up to date, once a second, until the registry is gone.
pub async fn sample_rates(clients: Weak<Clients>) {
    let slots = (RATE_WINDOW.as_secs() / SAMPLE_EVERY.as_secs()) as usize;
    let mut history: HashMap<u64, VecDeque<(u64, u64)>> = HashMap::new();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(clients) = clients.upgrade() else {
            return;
        };
        let list = clients.list();
        drop(clients);
        history.retain(|id, _| list.iter().any(|c| c.id == *id));
        for client in list {
            let now = (
                client.bytes_in.load(Ordering::Relaxed),
                client.bytes_out.load(Ordering::Relaxed),
            );
            let samples = history.entry(client.id).or_default();
            samples.push_back(now);
            while samples.len() > slots + 1 {
                samples.pop_front();
            }
            let (first, intervals) = (samples[0], samples.len() - 1);
            if intervals == 0 {
                continue;
            }
            let secs = intervals as u64 * SAMPLE_EVERY.as_secs();
            let rate = |now: u64, then: u64| now.saturating_sub(then).saturating_mul(8) / secs;
            client
                .rate_in
                .store(rate(now.0, first.0), Ordering::Relaxed);
            client
                .rate_out
                .store(rate(now.1, first.1), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_name_their_transport() {
        assert_eq!(
            Transport::of_peer("1.2.3.4:5"),
            (Transport::Tcp, "1.2.3.4:5")
        );
        assert_eq!(
            Transport::of_peer("ws 1.2.3.4:5"),
            (Transport::Ws, "1.2.3.4:5")
        );
        assert_eq!(
            Transport::of_peer("ws tls 1.2.3.4:5"),
            (Transport::Wss, "1.2.3.4:5")
        );
        assert_eq!(
            Transport::of_peer("rtmps [::1]:5"),
            (Transport::Rtmps, "[::1]:5")
        );
    }

    #[test]
    fn a_registration_lasts_as_long_as_its_connection_and_a_kick_reaches_only_it() {
        let clients = Arc::new(Clients::default());
        let (one, mut one_kicked) = clients.register(1, "127.0.0.1:1000");
        let (_two, mut two_kicked) = clients.register(2, "ws 127.0.0.1:1001");
        assert_eq!(clients.len(), 2);
        assert!(clients.kick(1));
        assert!(!clients.kick(1), "once");
        assert!(!clients.kick(9));
        assert_eq!(one_kicked.try_recv(), Ok(()));
        assert!(two_kicked.try_recv().is_err());
        drop(one);
        assert_eq!(clients.list().iter().map(|c| c.id).collect::<Vec<_>>(), [2]);
        assert_eq!(clients.get(2).unwrap().transport, Transport::Ws);
    }

    #[test]
    fn roles_follow_what_the_streams_do() {
        let mut state = ClientState::default();
        assert_eq!(state.role(), Role::Connecting);
        state.app = Some("live".into());
        assert_eq!(state.role(), Role::Idle);
        let playing = StreamUse {
            stream_id: 1,
            kind: UseKind::Live,
            name: "cam".into(),
            recording: false,
        };
        state.uses.push(playing.clone());
        assert_eq!(state.role(), Role::Player);
        state.uses.push(StreamUse {
            kind: UseKind::Publish,
            ..playing
        });
        assert_eq!(state.role(), Role::Publisher);
    }
}
