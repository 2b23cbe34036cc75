//! Connected clients by id, each with the mailbox that reaches its connection from
//! elsewhere: shared object updates from other connections, and calls the admin API makes on
//! the client. A mailbox is bounded ([`crate::config::Config::connection_mailbox`]); what does
//! not fit is refused (a call) or made up for later (a shared object subscriber gets a fresh
//! copy, see [`crate::shared_objects`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rtmpws_protocol::amf::Value;
use tokio::sync::{mpsc, oneshot};

use crate::shared_objects::Delivery;
use crate::sync::lock;

/// Something for one connection.
pub enum Mail {
    /// A shared object message for this subscriber.
    SharedObject(Arc<Delivery>),
    /// Nothing but a wake-up: a subscription of this connection fell behind (its mailbox was
    /// full) and needs a fresh copy.
    Wake,
    /// Call a method on the client and send back what it answers.
    Call(ClientCall),
}

/// A call the gateway makes on a client (`NetConnection.client.METHOD(...args)`).
pub struct ClientCall {
    pub method: String,
    pub args: Vec<Value>,
    pub reply: oneshot::Sender<CallAnswer>,
}

/// What came of a call on a client.
#[derive(Debug, Clone, PartialEq)]
pub enum CallAnswer {
    /// `_result`: the handler's return value.
    Result(Value),
    /// `_error`: the client's error info.
    Error(Value),
    /// Never made: the client went away, or has too many calls waiting.
    Failed(String),
}

/// One connected client.
#[derive(Clone)]
pub struct ClientEntry {
    pub app: String,
    pub mailbox: mpsc::Sender<Mail>,
}

/// Every connected client.
#[derive(Default)]
pub struct Clients {
    map: Mutex<BTreeMap<u64, ClientEntry>>,
}

impl Clients {
    pub fn register(&self, id: u64, entry: ClientEntry) {
        lock(&self.map).insert(id, entry);
    }

    pub fn unregister(&self, id: u64) {
        lock(&self.map).remove(&id);
    }

    pub fn get(&self, id: u64) -> Option<ClientEntry> {
        lock(&self.map).get(&id).cloned()
    }

    /// Every client id with its application.
    pub fn list(&self) -> Vec<(u64, String)> {
        lock(&self.map)
            .iter()
            .map(|(id, entry)| (*id, entry.app.clone()))
            .collect()
    }
}
