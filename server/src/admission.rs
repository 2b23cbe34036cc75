//! The door: who may come in, and how long a connection may stand in the doorway.
//!
//! A connection is *at the door* from its TCP accept until its RTMP connect is accepted: the
//! HTTP request and WebSocket upgrade, the RTMP handshake (whose C1 and C2 any program can
//! send without reading a byte back) and the connect command. Connections at the door have a
//! budget of their own, below `max_connections`: `max_handshaking` in all and
//! `max_handshaking_per_ip` from one address. A connection arriving over either budget is let
//! in and the oldest one at the door of that budget is shed (closed at once), so a flood of
//! half-finished handshakes wears itself out against the budget and a real viewer, which
//! passes the door in a few round trips, always gets in. `max_connections_per_ip` counts a
//! client address's connections at the door and past it; the next one is refused.
//!
//! The bookkeeping is one lock per arrival, one when a connection passes the door and one
//! when it ends. Refusals and sheds are logged at most once a second, with counts: during a
//! flood, a line per connection would cost more than the connection.
//!
//! An HTTP request for a file (the demo page, the client package) stays at the door until it
//! is answered. Client addresses are compared whole, IPv4-mapped IPv6 as IPv4.
//!
//! A connection's place at the door ([`Ticket`]) travels with its task (a task-local, see
//! [`Admitted::run`]), so the listeners' handlers and the HTTP side keep their signatures;
//! the connection driver calls [`passed`] once the connect is accepted.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::warn;

use crate::config::Config;
use crate::sync::lock;

/// At most one log line per this long about refused or shed connections.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// Why a connection was turned away at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("max_connections reached")]
    Full,
    #[error("max_connections_per_ip reached for this address")]
    TooManyFromAddress,
}

/// The door's limits and bookkeeping; one per gateway, shared by every listener.
pub struct Door {
    per_ip: usize,
    half_open: usize,
    half_open_per_ip: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next: u64,
    addresses: HashMap<IpAddr, Address>,
    /// Connections at the door, oldest (lowest number) first.
    at_door: BTreeMap<u64, AtDoor>,
    log: Tally,
}

#[derive(Default)]
struct Address {
    /// Connections from this address, at the door or past it.
    connections: usize,
    /// This address's connections at the door, oldest first.
    at_door: BTreeSet<u64>,
}

struct AtDoor {
    ip: IpAddr,
    /// Sending on it ends the connection's task.
    shed: oneshot::Sender<()>,
}

/// Refusals and sheds since the last log line.
#[derive(Default)]
struct Tally {
    last: Option<Instant>,
    full: u64,
    per_ip: u64,
    shed: u64,
}

impl Tally {
    /// Logs the counts if the last line is old enough.
    fn maybe_log(&mut self) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < LOG_EVERY)
        {
            return;
        }
        if self.full + self.per_ip + self.shed == 0 {
            return;
        }
        warn!(
            refused_full = self.full,
            refused_per_ip = self.per_ip,
            shed_at_door = self.shed,
            "connections turned away at the door{}",
            match self.last {
                Some(last) => format!(
                    " in the last {:.1}s",
                    now.duration_since(last).as_secs_f64()
                ),
                None => String::new(),
            }
        );
        *self = Tally {
            last: Some(now),
            ..Tally::default()
        };
    }
}

impl Door {
    pub fn new(config: &Config) -> Door {
        Door {
            per_ip: config.max_connections_per_ip,
            // Below max_connections, so connections at the door always leave room for the
            // ones past it; a small max_connections makes the budget smaller, not an error.
            half_open: config
                .max_handshaking
                .min(config.max_connections.saturating_sub(1))
                .max(1),
            half_open_per_ip: config.max_handshaking_per_ip,
            state: Mutex::default(),
        }
    }

    /// A connection from `ip` arrived (and got one of the `max_connections` places). Admits it
    /// at the door, shedding the oldest connection at the door if a budget is full, or
    /// refuses it.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refusal> {
        self.admit_as(ip, true)
    }

    /// Admits a connection from a trusted proxy whose client is not known at accept (a
    /// WebSocket upgrade whose X-Forwarded-For comes with the request): it counts in the
    /// door's budget in all, but the per-address limits, which would make the proxy's many
    /// clients one address, do not apply.
    pub fn admit_proxied(self: &Arc<Self>, proxy: IpAddr) -> Admitted {
        match self.admit_as(proxy, false) {
            Ok(admitted) => admitted,
            Err(_) => unreachable!("admit_as refuses only by the per-address limit"),
        }
    }

    fn admit_as(self: &Arc<Self>, ip: IpAddr, per_address: bool) -> Result<Admitted, Refusal> {
        let ip = ip.to_canonical();
        let mut state = lock(&self.state);
        let state = &mut *state;
        let address = state.addresses.entry(ip).or_default();
        if per_address && address.connections >= self.per_ip {
            state.log.per_ip += 1;
            state.log.maybe_log();
            return Err(Refusal::TooManyFromAddress);
        }
        address.connections += 1;
        let seq = state.next;
        state.next += 1;
        let oldest = if per_address && address.at_door.len() >= self.half_open_per_ip {
            address.at_door.first().copied()
        } else if state.at_door.len() >= self.half_open {
            state.at_door.keys().next().copied()
        } else {
            None
        };
        address.at_door.insert(seq);
        let (shed, on_shed) = oneshot::channel();
        state.at_door.insert(seq, AtDoor { ip, shed });
        if let Some(oldest) = oldest {
            state.remove_at_door(oldest, true);
            state.log.shed += 1;
            state.log.maybe_log();
        }
        Ok(Admitted {
            seat: Seat {
                door: Arc::clone(self),
                ip,
            },
            ticket: Ticket {
                door: Arc::clone(self),
                seq,
            },
            on_shed,
        })
    }

    /// Counts a connection refused for want of a place (`max_connections`), for the log.
    pub fn refused_full(&self) {
        let mut state = lock(&self.state);
        state.log.full += 1;
        state.log.maybe_log();
    }

    /// Connections at the door now, in all and from `ip` (for tests and stats).
    pub fn at_door(&self, ip: IpAddr) -> (usize, usize) {
        let state = lock(&self.state);
        let from_ip = state
            .addresses
            .get(&ip.to_canonical())
            .map_or(0, |a| a.at_door.len());
        (state.at_door.len(), from_ip)
    }
}

impl State {
    /// Takes connection `seq` off the door's lists; `shed` ends its task.
    fn remove_at_door(&mut self, seq: u64, shed: bool) {
        let Some(entry) = self.at_door.remove(&seq) else {
            return;
        };
        if let Some(address) = self.addresses.get_mut(&entry.ip) {
            address.at_door.remove(&seq);
            if address.connections == 0 && address.at_door.is_empty() {
                self.addresses.remove(&entry.ip);
            }
        }
        if shed {
            // The task may have ended meanwhile; then there is nobody to tell.
            let _ = entry.shed.send(());
        }
    }
}

/// A connection let in: its place among its address's connections, its place at the door,
/// and the signal that it was shed.
pub struct Admitted {
    seat: Seat,
    ticket: Ticket,
    on_shed: oneshot::Receiver<()>,
}

impl Admitted {
    /// Runs the connection's `task` to its end, or until the connection is shed while at the
    /// door (the task is dropped, which closes its socket).
    pub async fn run<F: Future<Output = ()>>(self, task: F) {
        let Admitted {
            seat,
            ticket,
            on_shed,
        } = self;
        let shed = async move {
            // An error means the ticket is gone: the connection passed the door.
            if on_shed.await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        AT_THE_DOOR
            .scope(RefCell::new(Some(ticket)), async move {
                tokio::select! {
                    biased;
                    () = task => {}
                    () = shed => {}
                }
            })
            .await;
        drop(seat);
    }
}

tokio::task_local! {
    /// The running connection's place at the door, until it passes.
    static AT_THE_DOOR: RefCell<Option<Ticket>>;
}

/// The running connection passed the door (its RTMP connect was accepted): it leaves the
/// door's budgets and can no longer be shed. Does nothing outside a task run by
/// [`Admitted::run`], or the second time.
pub fn passed() {
    let ticket = AT_THE_DOOR
        .try_with(|ticket| ticket.borrow_mut().take())
        .ok()
        .flatten();
    drop(ticket);
}

/// A connection's count among its address's connections, until the connection ends.
struct Seat {
    door: Arc<Door>,
    ip: IpAddr,
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut state = lock(&self.door.state);
        if let Some(address) = state.addresses.get_mut(&self.ip) {
            address.connections = address.connections.saturating_sub(1);
            if address.connections == 0 && address.at_door.is_empty() {
                state.addresses.remove(&self.ip);
            }
        }
    }
}

/// A connection's place at the door, until it passes the door or ends.
struct Ticket {
    door: Arc<Door>,
    seq: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        lock(&self.door.state).remove_at_door(self.seq, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn door(per_ip: usize, half_open: usize, half_open_per_ip: usize) -> Arc<Door> {
        let config = Config {
            max_connections_per_ip: per_ip,
            max_handshaking: half_open,
            max_handshaking_per_ip: half_open_per_ip,
            ..Config::default()
        };
        Arc::new(Door::new(&config))
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn the_oldest_at_the_door_is_shed_per_address_and_in_all() {
        let door = door(100, 3, 2);
        let mut a1 = door.admit(A).unwrap();
        let mut a2 = door.admit(A).unwrap();
        let mut a3 = door.admit(A).unwrap();
        assert!(
            a1.on_shed.try_recv().is_ok(),
            "A's oldest shed (per address)"
        );
        assert!(a2.on_shed.try_recv().is_err());
        assert_eq!(door.at_door(A), (2, 2));
        let mut b1 = door.admit(B).unwrap();
        assert_eq!(door.at_door(B), (3, 1));
        let mut b2 = door.admit(B).unwrap();
        assert!(a2.on_shed.try_recv().is_ok(), "the oldest of all shed");
        assert!(a3.on_shed.try_recv().is_err());
        assert!(b1.on_shed.try_recv().is_err());
        assert!(b2.on_shed.try_recv().is_err());
        assert_eq!(door.at_door(A), (3, 1));
    }

    #[test]
    fn passing_the_door_leaves_its_budget_but_not_the_address_count() {
        let door = door(2, 1, 1);
        let first = door.admit(A).unwrap();
        drop(first.ticket);
        assert_eq!(door.at_door(A), (0, 0));
        let mut second = door.admit(A).unwrap();
        assert!(
            second.on_shed.try_recv().is_err(),
            "nobody at the door to shed"
        );
        assert_eq!(
            door.admit(A).err(),
            Some(Refusal::TooManyFromAddress),
            "two from A, at the door or past it"
        );
        drop(first.seat);
        assert!(door.admit(A).is_ok());
        assert!(door.admit(B).is_ok(), "another address has its own count");
    }

    #[test]
    fn an_ended_connection_leaves_no_trace() {
        let door = door(10, 10, 10);
        for _ in 0..5 {
            drop(door.admit(A).unwrap());
        }
        let state = lock(&door.state);
        assert!(state.addresses.is_empty() && state.at_door.is_empty());
    }
}
