//! [`MemoryStore`]: the single-node backend.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use duet_auth::Session;
use duet_core::{Clock, GuestId, NodeId, RoomId, SessionId, SystemClock, Timestamp};

use crate::chats::ChatStore;
use crate::error::StoreError;
use crate::kept::{KeepLimits, Kept, KeptEntry, LastSeen, Log, Return};
use crate::model::{
    BackendKind, Connection, DeadNode, ExpiredSession, LastChat, Pair, PresenceCounts,
};
use crate::presence::PresenceStore;
use crate::sessions::SessionStore;

/// Settings of a [`MemoryStore`].
#[derive(Debug, Clone)]
pub struct MemoryStoreConfig {
    /// How long a guest remembers the partner it just left (default 1 hour).
    pub last_partner_ttl: Duration,
    /// How long a node counts as alive after its first connection when it never sent a
    /// heartbeat (default 10 s).
    pub implicit_node_ttl: Duration,
    /// How often the background sweep removes expired sessions (default 1 s).
    pub sweep_interval: Duration,
    /// How many expired sessions wait for [`SessionStore::take_expired_sessions`] before the
    /// oldest are dropped (default 65 536), so a store nobody drains stays bounded.
    pub max_pending_expired: usize,
}

impl Default for MemoryStoreConfig {
    fn default() -> Self {
        Self {
            last_partner_ttl: Duration::from_secs(3600),
            implicit_node_ttl: Duration::from_secs(10),
            sweep_interval: Duration::from_secs(1),
            max_pending_expired: 65_536,
        }
    }
}

/// Everything in one process's memory; what a single `duet-server` node uses without Redis.
///
/// All state sits behind one `std::sync::Mutex`: every operation is a few map updates with no
/// `.await` while the lock is held, so a blocking mutex is both correct and the fastest choice.
/// When created inside a Tokio runtime, a background task sweeps expired sessions every
/// [`MemoryStoreConfig::sweep_interval`]; it stops when the store is dropped.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    config: MemoryStoreConfig,
}

#[derive(Debug, Default)]
struct State {
    sessions: HashMap<SessionId, Session>,
    /// Sessions ordered by expiry, so a sweep costs only what has expired.
    expiry_index: BTreeSet<(Timestamp, SessionId)>,
    expired: VecDeque<ExpiredSession>,
    connections: HashMap<GuestId, Connection>,
    nodes: HashMap<NodeId, NodeState>,
    rooms: HashMap<RoomId, Pair>,
    room_of: HashMap<GuestId, RoomId>,
    /// Each guest's last chat, and until when it is remembered.
    last_partner: HashMap<GuestId, (LastChat, Timestamp)>,
    away: HashMap<GuestId, Timestamp>,
    /// Away marks by deadline, so the overdue ones are found without a scan.
    away_index: BTreeSet<(Timestamp, GuestId)>,
    /// What was sent to each guest ([`Log`]), and the bytes of all of them.
    logs: HashMap<GuestId, Log>,
    kept_bytes: usize,
    /// Last-partner entries in the order they expire (the TTL is constant).
    last_partner_expiry: VecDeque<(Timestamp, GuestId)>,
}

#[derive(Debug, Default)]
struct NodeState {
    deadline: Timestamp,
    connected_sockets: u64,
    guests: HashSet<GuestId>,
}

impl MemoryStore {
    /// A store with default settings and the system clock.
    pub fn new() -> Self {
        Self::with_config(MemoryStoreConfig::default(), Arc::new(SystemClock))
    }

    /// A store with `config`, reading time from `clock`.
    pub fn with_config(config: MemoryStoreConfig, clock: Arc<dyn Clock>) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            clock,
            config,
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep_forever(Arc::downgrade(&shared)));
        }
        Self { shared }
    }

    /// Removes expired sessions and last-partner entries now (the background sweep does this on
    /// its own; tests and runtimes without a sweep may call it).
    pub fn sweep(&self) {
        if let Ok(mut state) = self.shared.state.lock() {
            state.sweep(self.shared.clock.now(), &self.shared.config);
        }
    }

    /// How many session records the store holds, expired ones not yet swept included; a gauge for
    /// memory use.
    pub fn held_sessions(&self) -> usize {
        self.shared
            .state
            .lock()
            .map(|s| s.sessions.len())
            .unwrap_or(0)
    }

    /// Runs `f` on the guest's log (created empty if need be) and the store's kept bytes.
    fn with_log<T>(
        &self,
        guest: &GuestId,
        f: impl FnOnce(&mut Log, &mut usize) -> T,
    ) -> Result<T, StoreError> {
        let mut state = self.state()?;
        let State {
            logs, kept_bytes, ..
        } = &mut *state;
        Ok(f(logs.entry(*guest).or_default(), kept_bytes))
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        // A poisoned lock means a panic mid-update elsewhere; report it rather than propagate it.
        self.shared
            .state
            .lock()
            .map_err(|_| StoreError::Corrupt("memory store lock poisoned".to_owned()))
    }

    fn now(&self) -> Timestamp {
        self.shared.clock.now()
    }

    /// The clock expiries are judged against.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

async fn sweep_forever(shared: Weak<Shared>) {
    let Some(interval) = shared.upgrade().map(|s| s.config.sweep_interval) else {
        return;
    };
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if let Ok(mut state) = shared.state.lock() {
            state.sweep(shared.clock.now(), &shared.config);
        }
    }
}

impl State {
    fn forget_log(&mut self, guest: &GuestId) {
        if let Some(mut log) = self.logs.remove(guest) {
            log.forget_entries(&mut self.kept_bytes);
        }
    }

    fn sweep(&mut self, now: Timestamp, config: &MemoryStoreConfig) {
        while let Some(&(expiry, id)) = self.expiry_index.first() {
            if expiry > now {
                break;
            }
            self.expiry_index.pop_first();
            if let Some(session) = self.sessions.remove(&id) {
                if self.expired.len() >= config.max_pending_expired {
                    self.expired.pop_front();
                    tracing::warn!("expired-session backlog full; nobody drains it");
                }
                self.expired.push_back(ExpiredSession {
                    session_id: id,
                    guest_id: session.guest.id,
                });
            }
        }
        while let Some(&(until, guest)) = self.last_partner_expiry.front() {
            if until > now {
                break;
            }
            self.last_partner_expiry.pop_front();
            if self
                .last_partner
                .get(&guest)
                .is_some_and(|(_, u)| *u <= now)
            {
                self.last_partner.remove(&guest);
            }
        }
    }

    fn live_session(&self, id: &SessionId, now: Timestamp) -> Option<&Session> {
        self.sessions.get(id).filter(|s| !s.is_expired_at(now))
    }

    fn node_is_live(&self, node: &NodeId, now: Timestamp) -> bool {
        self.nodes.get(node).is_some_and(|n| n.deadline > now)
    }

    fn remove_connection_of(&mut self, guest: &GuestId) -> Option<Connection> {
        let connection = self.connections.remove(guest)?;
        if let Some(node) = self.nodes.get_mut(&connection.node_id) {
            node.guests.remove(guest);
        }
        Some(connection)
    }

    fn remove_node(&mut self, node_id: &NodeId) -> Vec<Connection> {
        let Some(node) = self.nodes.remove(node_id) else {
            return Vec::new();
        };
        node.guests
            .iter()
            .filter_map(|guest| {
                let owned = self.connections.get(guest)?.node_id == *node_id;
                if owned {
                    self.connections.remove(guest)
                } else {
                    None
                }
            })
            .collect()
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    fn kind(&self) -> BackendKind {
        BackendKind::Memory
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.state().map(drop)
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if let Some(old) = state.sessions.insert(session.id, session.clone()) {
            state.expiry_index.remove(&(old.expires_at(), old.id));
        }
        state
            .expiry_index
            .insert((session.expires_at(), session.id));
        Ok(())
    }

    async fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let now = self.now();
        Ok(self.state()?.live_session(id, now).cloned())
    }

    async fn extend_session(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let now = self.now();
        let mut state = self.state()?;
        let Some(current) = state.live_session(id, now).cloned() else {
            return Ok(None);
        };
        let mut extended = current.clone();
        extended.guest.expires_at = expires_at.max(current.expires_at());
        state.expiry_index.remove(&(current.expires_at(), *id));
        state.expiry_index.insert((extended.expires_at(), *id));
        state.sessions.insert(*id, extended.clone());
        Ok(Some(extended))
    }

    async fn revoke_session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let now = self.now();
        let mut state = self.state()?;
        let Some(session) = state.sessions.remove(id) else {
            return Ok(None);
        };
        state.expiry_index.remove(&(session.expires_at(), *id));
        Ok((!session.is_expired_at(now)).then_some(session))
    }

    async fn take_expired_sessions(&self, limit: usize) -> Result<Vec<ExpiredSession>, StoreError> {
        let now = self.now();
        let mut state = self.state()?;
        state.sweep(now, &self.shared.config);
        let count = limit.min(state.expired.len());
        Ok(state.expired.drain(..count).collect())
    }

    async fn count_sessions(&self) -> Result<u64, StoreError> {
        let now = self.now();
        let state = self.state()?;
        let live = state.sessions.values().filter(|s| !s.is_expired_at(now));
        Ok(live.count() as u64)
    }
}

#[async_trait]
impl PresenceStore for MemoryStore {
    async fn lost_state(&self, _node: &NodeId) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn register_connection(
        &self,
        connection: &Connection,
    ) -> Result<Option<Connection>, StoreError> {
        let now = self.now();
        let implicit_deadline = now.saturating_add(self.shared.config.implicit_node_ttl);
        let mut state = self.state()?;
        let previous = state.remove_connection_of(&connection.guest_id);
        let node = state.nodes.entry(connection.node_id.clone()).or_default();
        if node.deadline <= now {
            node.deadline = implicit_deadline;
        }
        node.guests.insert(connection.guest_id);
        state
            .connections
            .insert(connection.guest_id, connection.clone());
        Ok(previous)
    }

    async fn unregister_connection(
        &self,
        guest: &GuestId,
        socket_id: &str,
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let current = state
            .connections
            .get(guest)
            .is_some_and(|c| c.socket_id == socket_id);
        if current {
            state.remove_connection_of(guest);
        }
        Ok(current)
    }

    async fn connection(&self, guest: &GuestId) -> Result<Option<Connection>, StoreError> {
        let now = self.now();
        let state = self.state()?;
        Ok(state
            .connections
            .get(guest)
            .filter(|c| state.node_is_live(&c.node_id, now))
            .cloned())
    }

    async fn heartbeat(
        &self,
        node: &NodeId,
        connected_sockets: u64,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let deadline = self.now().saturating_add(ttl);
        let mut state = self.state()?;
        let entry = state.nodes.entry(node.clone()).or_default();
        entry.deadline = deadline;
        entry.connected_sockets = connected_sockets;
        Ok(())
    }

    async fn live_nodes(&self) -> Result<Vec<NodeId>, StoreError> {
        let now = self.now();
        let state = self.state()?;
        let mut nodes: Vec<NodeId> = state
            .nodes
            .iter()
            .filter(|(_, n)| n.deadline > now)
            .map(|(id, _)| id.clone())
            .collect();
        nodes.sort();
        Ok(nodes)
    }

    async fn claim_dead_nodes(&self) -> Result<Vec<DeadNode>, StoreError> {
        let now = self.now();
        let mut state = self.state()?;
        let dead: Vec<NodeId> = state
            .nodes
            .iter()
            .filter(|(_, n)| n.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        Ok(dead
            .into_iter()
            .map(|node_id| DeadNode {
                connections: state.remove_node(&node_id),
                node_id,
            })
            .collect())
    }

    async fn remove_node(&self, node: &NodeId) -> Result<Vec<Connection>, StoreError> {
        Ok(self.state()?.remove_node(node))
    }

    async fn counts(&self) -> Result<PresenceCounts, StoreError> {
        let now = self.now();
        let state = self.state()?;
        let live = state.nodes.values().filter(|n| n.deadline > now);
        Ok(
            live.fold(PresenceCounts::default(), |counts, node| PresenceCounts {
                online_guests: counts.online_guests + node.guests.len() as u64,
                connected_sockets: counts.connected_sockets + node.connected_sockets,
                live_nodes: counts.live_nodes + 1,
            }),
        )
    }
}

#[async_trait]
impl ChatStore for MemoryStore {
    async fn create_pair(&self, pair: &Pair) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let taken = pair.initiator == pair.responder
            || pair.guests().iter().any(|g| state.room_of.contains_key(g));
        if taken {
            return Ok(false);
        }
        for guest in pair.guests() {
            state.room_of.insert(guest, pair.room_id);
        }
        state.rooms.insert(pair.room_id, pair.clone());
        Ok(true)
    }

    async fn pair_of(&self, guest: &GuestId) -> Result<Option<Pair>, StoreError> {
        let state = self.state()?;
        Ok(state
            .room_of
            .get(guest)
            .and_then(|room| state.rooms.get(room))
            .cloned())
    }

    async fn end_pair(&self, room: &RoomId) -> Result<Option<Pair>, StoreError> {
        let now = self.now();
        let until = now.saturating_add(self.shared.config.last_partner_ttl);
        let mut state = self.state()?;
        let Some(pair) = state.rooms.remove(room) else {
            return Ok(None);
        };
        for (guest, partner) in [
            (pair.initiator, pair.responder),
            (pair.responder, pair.initiator),
        ] {
            if state.room_of.get(&guest) == Some(room) {
                state.room_of.remove(&guest);
            }
            let last = LastChat {
                partner,
                room_id: *room,
                ended_at: now,
            };
            state.last_partner.insert(guest, (last, until));
            state.last_partner_expiry.push_back((until, guest));
            if let Some(until) = state.away.remove(&guest) {
                state.away_index.remove(&(until, guest));
            }
            state.forget_log(&guest);
        }
        Ok(Some(pair))
    }

    async fn last_chat(&self, guest: &GuestId) -> Result<Option<LastChat>, StoreError> {
        let now = self.now();
        let state = self.state()?;
        Ok(state
            .last_partner
            .get(guest)
            .filter(|(_, until)| *until > now)
            .map(|(last, _)| *last))
    }

    async fn set_away(&self, guest: &GuestId, until: Timestamp) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if let Some(previous) = state.away.insert(*guest, until) {
            state.away_index.remove(&(previous, *guest));
        }
        state.away_index.insert((until, *guest));
        state.logs.entry(*guest).or_default().hold();
        Ok(())
    }

    async fn away_until(&self, guest: &GuestId) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.state()?.away.get(guest).copied())
    }

    async fn clear_away(&self, guest: &GuestId) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let Some(until) = state.away.remove(guest) else {
            return Ok(false);
        };
        state.away_index.remove(&(until, *guest));
        Ok(true)
    }

    async fn take_overdue_away(&self, limit: usize) -> Result<Vec<GuestId>, StoreError> {
        let now = self.now();
        let mut state = self.state()?;
        let mut overdue = Vec::new();
        while overdue.len() < limit {
            let Some(&(until, guest)) = state.away_index.first() else {
                break;
            };
            if until > now {
                break;
            }
            state.away_index.pop_first();
            state.away.remove(&guest);
            overdue.push(guest);
        }
        Ok(overdue)
    }

    async fn keep(
        &self,
        guest: &GuestId,
        entry: Vec<u8>,
        limits: &KeepLimits,
    ) -> Result<Kept, StoreError> {
        let now = self.now();
        self.with_log(guest, |log, total| log.keep(entry, limits, now, total))
    }

    async fn keep_in_chat(
        &self,
        sender: &GuestId,
        room: &RoomId,
        recipient: &GuestId,
        entry: Vec<u8>,
        limits: &KeepLimits,
    ) -> Result<Option<Kept>, StoreError> {
        let mut state = self.state()?;
        let in_chat = state.room_of.get(sender) == Some(room)
            && state
                .rooms
                .get(room)
                .and_then(|pair| pair.partner_of(sender))
                == Some(*recipient);
        if !in_chat {
            return Ok(None);
        }
        let State {
            logs, kept_bytes, ..
        } = &mut *state;
        Ok(Some(logs.entry(*recipient).or_default().keep(
            entry,
            limits,
            self.shared.clock.now(),
            kept_bytes,
        )))
    }

    async fn keep_marker(&self, guest: &GuestId, marker: Vec<u8>) -> Result<Kept, StoreError> {
        let now = self.now();
        self.with_log(guest, |log, total| log.keep_marker(marker, now, total))
    }

    async fn hold_for_return(&self, guest: &GuestId) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        if state.room_of.contains_key(guest) {
            state.logs.entry(*guest).or_default().hold();
            return Ok(true);
        }
        Ok(state.logs.contains_key(guest))
    }

    async fn come_back(
        &self,
        guest: &GuestId,
        seen: Option<LastSeen>,
    ) -> Result<Return, StoreError> {
        let mut state = self.state()?;
        let was_away = match state.away.remove(guest) {
            Some(until) => state.away_index.remove(&(until, *guest)),
            None => false,
        };
        let pair = state
            .room_of
            .get(guest)
            .and_then(|room| state.rooms.get(room))
            .cloned();
        let State {
            logs, kept_bytes, ..
        } = &mut *state;
        let entries = match (&pair, logs.remove(guest)) {
            (_, None) => Vec::new(),
            (Some(pair), Some(mut log)) => {
                let after = seen
                    .filter(|seen| seen.room_id == pair.room_id)
                    .map(|seen| seen.seq);
                let entries = log.replay(after);
                logs.insert(*guest, log);
                entries
            }
            (None, Some(log)) => log.take(kept_bytes),
        };
        Ok(Return {
            pair,
            was_away,
            entries,
        })
    }

    async fn release_hold(&self, guest: &GuestId) -> Result<Vec<KeptEntry>, StoreError> {
        Ok(self
            .state()?
            .logs
            .get_mut(guest)
            .map(Log::release_hold)
            .unwrap_or_default())
    }

    async fn hold_since(&self, guest: &GuestId, seq: u64) -> Result<(), StoreError> {
        if let Some(log) = self.state()?.logs.get_mut(guest) {
            log.hold_since(seq);
        }
        Ok(())
    }

    async fn forget_kept(&self, guest: &GuestId) -> Result<(), StoreError> {
        self.state()?.forget_log(guest);
        Ok(())
    }

    async fn chat_of(&self, guest: &GuestId) -> Result<Option<(Pair, bool)>, StoreError> {
        let state = self.state()?;
        let pair = state
            .room_of
            .get(guest)
            .and_then(|room| state.rooms.get(room));
        Ok(pair.map(|pair| {
            let away = pair
                .partner_of(guest)
                .is_some_and(|partner| state.away.contains_key(&partner));
            (pair.clone(), away)
        }))
    }

    async fn count_chats(&self) -> Result<u64, StoreError> {
        Ok(self.state()?.rooms.len() as u64)
    }
}
