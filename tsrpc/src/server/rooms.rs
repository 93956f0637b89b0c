//! Rooms: named groups of a server's WebSocket connections, to broadcast
//! to ([`Server::to`](super::Server::to)). A local index; a cluster
//! adapter is told when a room gets its first member here or loses its
//! last, so that it hears the room's broadcasts from other nodes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::cluster::ClusterAdapter;
use super::connection::Connection;
use crate::task::lock;

/// The rooms of one server, by name, with their members by connection id.
#[derive(Default)]
pub(crate) struct Rooms {
    members: Mutex<HashMap<Arc<str>, HashMap<u64, Connection>>>,
    /// Told of rooms that appear and disappear here.
    adapter: OnceLock<Arc<dyn ClusterAdapter>>,
}

/// A connection's own side: the rooms it is in, and whether it has left
/// them all for good (it closed).
#[derive(Debug, Default)]
pub(crate) struct Joined {
    rooms: Vec<Arc<str>>,
    closed: bool,
}

impl Rooms {
    pub(crate) fn set_adapter(&self, adapter: Arc<dyn ClusterAdapter>) {
        let _ = self.adapter.set(adapter);
    }

    /// Puts `conn` in `room`; nothing if it is there already or closed.
    pub(crate) fn join(&self, conn: &Connection, joined: &Mutex<Joined>, room: &str) {
        let mut members = lock(&self.members);
        let mut joined = lock(joined);
        if joined.closed || joined.contains(room) {
            return;
        }
        let name = match members.get_key_value(room) {
            Some((name, _)) => name.clone(),
            None => {
                if let Some(adapter) = self.adapter.get() {
                    adapter.room_added(room);
                }
                Arc::from(room)
            }
        };
        members
            .entry(name.clone())
            .or_default()
            .insert(conn.id(), conn.clone());
        joined.rooms.push(name);
    }

    /// Takes `conn` out of `room`; nothing if it is not in it.
    pub(crate) fn leave(&self, conn: &Connection, joined: &Mutex<Joined>, room: &str) {
        let mut members = lock(&self.members);
        let mut joined = lock(joined);
        let Some(at) = joined.rooms.iter().position(|r| &**r == room) else {
            return;
        };
        joined.rooms.swap_remove(at);
        self.remove_member(&mut members, room, conn.id());
    }

    /// Takes a closed connection out of every room, for good; the
    /// connection still says which rooms it was in.
    pub(crate) fn close(&self, conn: &Connection, joined: &Mutex<Joined>) {
        let mut members = lock(&self.members);
        let mut joined = lock(joined);
        joined.closed = true;
        for room in &joined.rooms {
            self.remove_member(&mut members, room, conn.id());
        }
    }

    fn remove_member(
        &self,
        members: &mut HashMap<Arc<str>, HashMap<u64, Connection>>,
        room: &str,
        id: u64,
    ) {
        let Some(room_members) = members.get_mut(room) else {
            return;
        };
        room_members.remove(&id);
        if room_members.is_empty() {
            members.remove(room);
            if let Some(adapter) = self.adapter.get() {
                adapter.room_removed(room);
            }
        }
    }

    /// The members of any of `rooms`, each once, but those in any of
    /// `except`.
    pub(crate) fn members(&self, rooms: &[String], except: &[String]) -> Vec<Connection> {
        let members = lock(&self.members);
        if let ([room], []) = (rooms, except) {
            // One room: its members are each there once.
            let found = members.get(room.as_str());
            return found
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default();
        }
        let excluded = |conn: &Connection| {
            except.iter().any(|room| {
                members
                    .get(room.as_str())
                    .is_some_and(|m| m.contains_key(&conn.id()))
            })
        };
        let mut found: HashMap<u64, Connection> = HashMap::new();
        for room in rooms {
            for (id, conn) in members.get(room.as_str()).into_iter().flatten() {
                if !found.contains_key(id) && !excluded(conn) {
                    found.insert(*id, conn.clone());
                }
            }
        }
        found.into_values().collect()
    }

    /// `conns` without the members of any of `except`.
    pub(crate) fn without(&self, mut conns: Vec<Connection>, except: &[String]) -> Vec<Connection> {
        if except.is_empty() {
            return conns;
        }
        let members = lock(&self.members);
        conns.retain(|conn| {
            !except.iter().any(|room| {
                members
                    .get(room.as_str())
                    .is_some_and(|m| m.contains_key(&conn.id()))
            })
        });
        conns
    }

    /// The rooms that have members here.
    pub(crate) fn names(&self) -> Vec<String> {
        lock(&self.members).keys().map(|r| r.to_string()).collect()
    }
}

impl Joined {
    pub(crate) fn rooms(&self) -> Vec<String> {
        self.rooms.iter().map(|r| r.to_string()).collect()
    }

    pub(crate) fn contains(&self, room: &str) -> bool {
        self.rooms.iter().any(|r| &**r == room)
    }
}
