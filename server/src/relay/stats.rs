//! What each relay is doing, for logs now and a stats API later: its target, whether it is
//! connected, the media bytes it moved, how often it reconnected, what it skipped.
//!
//! Each relay task owns a [`StatusHandle`] (registered in [`Board`] while it lives) and updates
//! plain atomics; [`Board::read`] copies them out.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::sync::lock;

/// Push (this gateway publishes to a target) or pull (it plays from an origin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Push,
    Pull,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Push => "push",
            Direction::Pull => "pull",
        }
    }
}

/// One relay's figures at the time of reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayStats {
    pub direction: Direction,
    pub app: String,
    /// The local stream.
    pub name: String,
    /// The target (push) or the origin tried or used last (pull), without its query.
    pub target: String,
    pub connected: bool,
    /// Media and data bytes sent to the target, or received from the origin.
    pub bytes: u64,
    /// Connections made after the first.
    pub reconnects: u64,
    /// Media messages a push skipped because its target was too slow.
    pub dropped: u64,
}

/// The live counters of one relay.
#[derive(Debug)]
pub struct RelayStatus {
    pub direction: Direction,
    pub app: String,
    pub name: String,
    target: Mutex<String>,
    connected: AtomicBool,
    bytes: AtomicU64,
    connections: AtomicU64,
    dropped: AtomicU64,
}

impl RelayStatus {
    pub fn set_target(&self, target: String) {
        *lock(&self.target) = target;
    }

    /// A connection was made (the first, or a reconnection).
    pub fn connected(&self) {
        self.connected.store(true, Ordering::Relaxed);
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn disconnected(&self) {
        self.connected.store(false, Ordering::Relaxed);
    }

    pub fn add_bytes(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn add_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    pub fn read(&self) -> RelayStats {
        RelayStats {
            direction: self.direction,
            app: self.app.clone(),
            name: self.name.clone(),
            target: lock(&self.target).clone(),
            connected: self.connected.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            reconnects: self.connections.load(Ordering::Relaxed).saturating_sub(1),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Every relay that runs now.
#[derive(Debug, Default)]
pub struct Board {
    relays: Mutex<BTreeMap<u64, Arc<RelayStatus>>>,
    next: AtomicU64,
}

impl Board {
    /// Registers a relay; it stays listed while the handle lives.
    pub fn register(
        self: &Arc<Self>,
        direction: Direction,
        app: &str,
        name: &str,
        target: String,
    ) -> StatusHandle {
        let status = Arc::new(RelayStatus {
            direction,
            app: app.to_owned(),
            name: name.to_owned(),
            target: Mutex::new(target),
            connected: AtomicBool::new(false),
            bytes: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        lock(&self.relays).insert(id, Arc::clone(&status));
        StatusHandle {
            board: Arc::clone(self),
            id,
            status,
        }
    }

    /// Every running relay's figures, in the order they started.
    pub fn read(&self) -> Vec<RelayStats> {
        lock(&self.relays).values().map(|s| s.read()).collect()
    }
}

/// A relay's entry on the board, removed when dropped.
#[derive(Debug)]
pub struct StatusHandle {
    board: Arc<Board>,
    id: u64,
    status: Arc<RelayStatus>,
}

impl std::ops::Deref for StatusHandle {
    type Target = RelayStatus;
    fn deref(&self) -> &RelayStatus {
        &self.status
    }
}

impl Drop for StatusHandle {
    fn drop(&mut self) {
        lock(&self.board.relays).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_are_listed_while_they_run_with_their_counters() {
        let board = Arc::new(Board::default());
        let push = board.register(Direction::Push, "live", "cam", "rtmp://a:1935/live".into());
        {
            let _pull = board.register(Direction::Pull, "live", "x", "rtmp://o:1935/live".into());
            assert_eq!(board.read().len(), 2);
        }
        push.connected();
        push.add_bytes(1000);
        push.disconnected();
        push.connected();
        push.add_dropped(3);
        let stats = board.read();
        assert_eq!(stats.len(), 1);
        assert_eq!(
            stats[0],
            RelayStats {
                direction: Direction::Push,
                app: "live".into(),
                name: "cam".into(),
                target: "rtmp://a:1935/live".into(),
                connected: true,
                bytes: 1000,
                reconnects: 1,
                dropped: 3,
            }
        );
    }
}
