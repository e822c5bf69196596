//! [`Duet`]: one node's state, its Socket.IO namespace, its HTTP routes and its upkeep.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use duet_auth::TokenService;
use duet_core::{GuestId, NodeId, Timestamp};
use duet_matchmaker::MatchQueue;
use duet_presence_store::{BackendKind, DeadNode, Pair, PresenceStats, StoreError, Stores};
use metrics_exporter_prometheus::PrometheusHandle;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::socket::DisconnectReason;
use socketioxide_core::adapter::DefinedAdapter;
use socketioxide_core::adapter::errors::{BroadcastError, SocketError};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::event::ServerEvent;
use crate::metrics::{self as names, EventCounters};
use crate::moderate::{GuestsByAddress, Moderation};
use crate::rate_limit::KeyedBudget;
use crate::restore::KnownChats;
use crate::settings::{Readiness, Settings};

/// How often the upkeep loop runs its sweeps.
const UPKEEP_TICK: Duration = Duration::from_secs(1);
/// How often what this node knows of its guests' chats is checked against the store, in
/// upkeep ticks: a pair formed or ended elsewhere is known here at most this late.
const KNOWN_CHATS_CHECK_TICKS: u64 = 5;

/// How often waiting guests' tickets are refreshed, in upkeep ticks.
const TICKET_REFRESH_TICKS: u64 = 3;
/// How often the budgets forget full buckets, in upkeep ticks.
const BUDGET_PRUNE_TICKS: u64 = 60;
/// How many expired sessions or overdue away marks one upkeep tick handles at most.
const SWEEP_BATCH: usize = 256;
/// How long a drain waits for its sockets' disconnect handling.
const DRAIN_WAIT: Duration = Duration::from_secs(5);

/// Why [`Duet::try_emit_to`] sent nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotSent {
    /// The guest's socket here is closing: its transport dropped, and its disconnection (with
    /// the resume grace) is on its way.
    Closing,
    /// Anything else: no room in the socket's buffer, or the adapter failed.
    Failed,
}

/// Room every socket of a guest joins: delivery to a guest, on any node.
pub(crate) fn user_room(guest: &GuestId) -> String {
    // Written out rather than `format!`ed: every event sent to a guest names this room, and
    // the formatting machinery cost more than the rest of the name's making.
    const PREFIX: &str = "user:";
    let mut room = String::with_capacity(PREFIX.len() + uuid::fmt::Hyphenated::LENGTH);
    room.push_str(PREFIX);
    room.push_str(
        guest
            .as_uuid()
            .hyphenated()
            .encode_lower(&mut Uuid::encode_buffer()),
    );
    room
}

/// Room of one socket, so another node can reach exactly that socket (replacement).
pub(crate) fn socket_room(socket_id: &str) -> String {
    format!("socket:{socket_id}")
}

/// The counts of `GET /api/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// What the presence store counts.
    pub presence: PresenceStats,
    /// Guests waiting to be paired.
    pub available_users: u64,
}

/// One Duet node: the HTTP API and the Socket.IO chat on namespace `/`, over a token service,
/// a presence store and a match queue.
///
/// Built with [`Duet::builder`]; serve [`Duet::router`] with the Socket.IO layer, and keep
/// [`Duet::spawn_tasks`]'s handle alive while the node runs.
pub struct Duet<A: Adapter> {
    pub(crate) tokens: TokenService,
    pub(crate) stores: Stores,
    pub(crate) queue: Arc<dyn MatchQueue>,
    pub(crate) settings: Settings,
    pub(crate) readiness: Readiness,
    /// [`DuetBuilder::adapter_link`].
    pub(crate) adapter_link: Option<Arc<dyn AdapterLink>>,
    pub(crate) node_id: NodeId,
    /// The per-guest event budget.
    pub(crate) event_budget: KeyedBudget<GuestId>,
    /// The per-IP session budget.
    pub(crate) session_budget: KeyedBudget<IpAddr>,
    pub(crate) prometheus: PrometheusHandle,
    /// The counters every relayed event records, looked up once.
    pub(crate) counters: EventCounters,
    pub(crate) io: SocketIo<A>,
    /// Told of each handshake that succeeds, for [`crate::serve::serve`]'s per-IP cap.
    pub(crate) authenticated_sessions: crate::serve::AuthenticatedSessions,
    /// Sockets of this node whose handshake succeeded and whose disconnect handling has not
    /// finished.
    pub(crate) local_sockets: AtomicU64,
    /// The socket count of this node's last successful heartbeat: what the store's cluster sum
    /// holds for it.
    reported_sockets: AtomicU64,
    /// Set by [`Duet::close`]: the sockets it disconnects keep their chats through the grace.
    pub(crate) draining: AtomicBool,
    /// Pairs whose two guests are both connected to this node, by guest. Their events are
    /// emitted locally (no Redis round trip), and they keep chatting while Redis is down: no
    /// other node can change such a pair, since every other node needs Redis to do so.
    local_pairs: Mutex<HashMap<GuestId, Arc<Pair>>>,
    /// What this node knows of its guests' chats, to write back into a store that lost it.
    pub(crate) known: KnownChats,
    /// Reports, bans and the rest of keeping abuse out.
    pub(crate) moderation: Moderation,
    /// The guests connected here from each client address (the per-address cap).
    pub(crate) guests_by_address: GuestsByAddress,
    /// The bans' version this node last applied to its sockets (`u64::MAX`: none yet).
    pub(crate) bans_seen: AtomicU64,
}

impl<A: Adapter> std::fmt::Debug for Duet<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Duet")
            .field("node_id", &self.node_id)
            .field("stores", &self.stores.kind())
            .field("settings", &self.settings)
            .field("local_sockets", &self.local_sockets)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Duet`] node; see [`Duet::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` attaches it to a SocketIo"]
pub struct DuetBuilder {
    tokens: TokenService,
    stores: Stores,
    queue: Arc<dyn MatchQueue>,
    settings: Settings,
    readiness: Readiness,
    adapter_link: Option<Arc<dyn AdapterLink>>,
    node_id: Option<NodeId>,
    moderation: Option<Moderation>,
}

/// What a node asks of its adapter's link to the other nodes (for the Redis adapter,
/// `cluster::AdapterHealth`): whether it hears them now, and how often it stopped hearing them.
///
/// Events the other nodes publish to this node's sockets while it hears nothing (a `user:matched`,
/// a relayed `chat:message`) are lost on the way: pub/sub keeps nothing. The node therefore
/// reports itself degraded while [`receiving`](Self::receiving) is false, and once it hears
/// again it catches up each of its guests in a chat from the store (see `docs/protocol.md`,
/// "After a node's link to the other nodes was interrupted").
pub trait AdapterLink: std::fmt::Debug + Send + Sync + 'static {
    /// Whether what the other nodes publish reaches this node now.
    fn receiving(&self) -> bool;

    /// How many times the link has stopped receiving since it was made: the node notices a
    /// new interruption by this count changing, however short it was.
    fn interruptions(&self) -> u64;
}

impl DuetBuilder {
    /// Sets how the node keeps abuse out (default: [`Moderation::in_memory`], right for one
    /// node; a cluster needs the shared store and the same address key on every node).
    pub fn moderation(mut self, moderation: Moderation) -> Self {
        self.moderation = Some(moderation);
        self
    }

    /// Sets the node's settings (default: [`Settings::default`]). Build the `SocketIo` from the
    /// same settings ([`Settings::socket_io_builder`]).
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Sets what `/ready` reports (default: local adapter, no fallback).
    pub fn readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
        self
    }

    /// Gives the node its adapter's link to the other nodes (default: none, for adapters that
    /// always hear them, like the local one). `/ready` answers `503 degraded` while the link
    /// does not receive, and after each interruption the node catches its guests up on what
    /// the other nodes sent meanwhile ([`AdapterLink`]). For the Redis adapter, pass
    /// `cluster::Cluster::health`.
    pub fn adapter_link(mut self, link: impl AdapterLink) -> Self {
        self.adapter_link = Some(Arc::new(link));
        self
    }

    /// Sets this node's name (default: a random one). The node runs as a fresh incarnation of
    /// it ([`NodeId::new_incarnation`]), and at start-up ends the chats of the guests an earlier
    /// incarnation of the same name left behind (a process killed and started again at once).
    pub fn node_id(mut self, node_id: NodeId) -> Self {
        self.node_id = Some(node_id);
        self
    }

    /// The node, serving namespace `/` of `io`. Returns what `io.ns` returns too: a future to
    /// await for remote adapters (the Redis adapter subscribes there), `()` for the local one.
    pub fn build<A>(self, io: &SocketIo<A>) -> (Arc<Duet<A>>, A::InitRes)
    where
        A: Adapter + DefinedAdapter,
    {
        let settings = self.settings;
        let stores_are_shared = self.stores.kind() != BackendKind::Memory;
        let duet = Arc::new(Duet {
            event_budget: KeyedBudget::new(settings.rate_limit_max, settings.rate_limit_window),
            session_budget: KeyedBudget::new(settings.sessions_per_minute, Duration::from_secs(60)),
            tokens: self.tokens,
            stores: self.stores,
            queue: self.queue,
            settings,
            readiness: self.readiness,
            adapter_link: self.adapter_link,
            node_id: self
                .node_id
                .unwrap_or_else(NodeId::random)
                .new_incarnation(),
            prometheus: names::prometheus_handle(),
            counters: EventCounters::default(),
            io: io.clone(),
            authenticated_sessions: crate::serve::AuthenticatedSessions::of(io),
            local_sockets: AtomicU64::new(0),
            reported_sockets: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            local_pairs: Mutex::default(),
            known: KnownChats::new(stores_are_shared),
            moderation: self.moderation.unwrap_or_else(Moderation::in_memory),
            guests_by_address: GuestsByAddress::default(),
            bans_seen: AtomicU64::new(u64::MAX),
        });
        let init = crate::session::serve_namespace(&duet, io);
        (duet, init)
    }
}

/// The node's background tasks (see [`Duet::spawn_tasks`]); dropping this stops them.
#[derive(Debug)]
#[must_use = "dropping NodeTasks stops the node's background tasks"]
pub struct NodeTasks {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for NodeTasks {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

// The builder is reached through `Duet<LocalAdapter>` only so that `Duet::builder(..)` needs no
// type annotation; `DuetBuilder::build` then makes a node on whatever adapter its `SocketIo` has.
impl Duet<socketioxide::adapter::LocalAdapter> {
    /// A node on `tokens` (guest tokens), `stores` (sessions, presence, chats) and `queue`
    /// (matching). Memory or Redis backends alike; with Redis, build the `SocketIo` with the
    /// Redis adapter (`cluster::connect`, feature `redis`) so that every node can reach every
    /// guest.
    pub fn builder(
        tokens: TokenService,
        stores: Stores,
        queue: Arc<dyn MatchQueue>,
    ) -> DuetBuilder {
        DuetBuilder {
            tokens,
            stores,
            queue,
            settings: Settings::default(),
            readiness: Readiness::default(),
            adapter_link: None,
            node_id: None,
            moderation: None,
        }
    }
}

impl<A: Adapter> Duet<A> {
    /// The HTTP API of protocol.md §1 as an axum router, for this node. Add the Socket.IO layer
    /// to it (and CORS), and serve it with
    /// `into_make_service_with_connect_info::<SocketAddr>()` so that the per-IP budget sees
    /// client addresses.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        crate::http::router(Arc::clone(self))
    }

    /// Starts the node's background work: one upkeep loop (heartbeat, expired sessions, overdue
    /// away marks, dead nodes, ticket refresh, budget pruning), the matcher that pairs
    /// guests whose interest wait is over, and, with an [`AdapterLink`], the watch that
    /// catches guests up after the link was interrupted. Must run inside a Tokio runtime.
    pub fn spawn_tasks(self: &Arc<Self>) -> NodeTasks {
        let (mut due, matcher) =
            duet_matchmaker::spawn_matcher(Arc::clone(&self.queue), self.settings.matcher_tick);
        let duet = Arc::clone(self);
        let deliver = tokio::spawn(async move {
            while let Some(work) = due.recv().await {
                for pairing in work.pairings {
                    duet.announce(pairing).await;
                }
            }
        });
        let duet = Arc::clone(self);
        let upkeep = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(UPKEEP_TICK);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_heartbeat: Option<tokio::time::Instant> = None;
            duet.claim_earlier_incarnations().await;
            for tick in 0u64.. {
                ticker.tick().await;
                if last_heartbeat.is_none_or(|at| at.elapsed() >= duet.settings.heartbeat_interval)
                {
                    last_heartbeat = Some(tokio::time::Instant::now());
                    duet.heartbeat().await;
                }
                duet.upkeep(tick).await;
            }
        });
        let mut tasks = vec![matcher, deliver, upkeep];
        if let Some(link) = &self.adapter_link {
            tasks.push(tokio::spawn(
                Arc::clone(self).watch_adapter_link(Arc::clone(link)),
            ));
        }
        NodeTasks { tasks }
    }

    /// Ends the chats of the guests that an earlier incarnation of this node's name left
    /// connected: that process is gone (it was killed and this one started in its place), but
    /// its heartbeat would keep its guests online until it expired. Earlier incarnations whose
    /// heartbeat has already expired are claimed by the usual dead-node sweep.
    async fn claim_earlier_incarnations(&self) {
        let nodes = match self.stores.presence.live_nodes().await {
            Ok(nodes) => nodes,
            Err(error) => {
                tracing::warn!(%error, "cannot look for earlier incarnations of this node");
                return;
            }
        };
        for node_id in nodes {
            if !node_id.is_earlier_incarnation_of(&self.node_id) {
                continue;
            }
            match self.stores.presence.remove_node(&node_id).await {
                Ok(connections) => {
                    self.node_died(DeadNode {
                        node_id,
                        connections,
                    })
                    .await;
                }
                Err(error) => {
                    tracing::warn!(%error, %node_id, "cannot claim an earlier incarnation");
                }
            }
        }
    }

    async fn heartbeat(&self) {
        let sockets = self.local_sockets();
        let ttl = self.settings.heartbeat_ttl;
        let beat = self.stores.presence.heartbeat(&self.node_id, sockets, ttl);
        match beat.await {
            Ok(()) => self.reported_sockets.store(sockets, Ordering::Release),
            Err(error) => tracing::warn!(%error, node_id = %self.node_id, "heartbeat failed"),
        }
    }

    async fn upkeep(&self, tick: u64) {
        match self
            .stores
            .sessions
            .take_expired_sessions(SWEEP_BATCH)
            .await
        {
            Ok(expired) => {
                for session in expired {
                    self.session_ended(&session.guest_id).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read expired sessions"),
        }
        match self.stores.chats.take_overdue_away(SWEEP_BATCH).await {
            Ok(overdue) => {
                for guest in overdue {
                    self.grace_over(&guest).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read overdue away marks"),
        }
        match self.stores.presence.claim_dead_nodes().await {
            Ok(dead) => {
                for node in dead {
                    self.node_died(node).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot look for dead nodes"),
        }
        self.check_bans().await;
        if tick.is_multiple_of(TICKET_REFRESH_TICKS) {
            let guests = crate::session::local_guests(&self.io);
            if let Err(error) = self.queue.refresh(&guests).await {
                tracing::warn!(%error, "cannot refresh tickets");
            }
        }
        if self.known.enabled() {
            self.restore_if_lost().await;
            if tick.is_multiple_of(KNOWN_CHATS_CHECK_TICKS) {
                self.check_known_chats().await;
            }
        }
        if tick.is_multiple_of(BUDGET_PRUNE_TICKS) {
            self.event_budget.prune();
            self.session_budget.prune();
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> &NodeId {
        &self.node_id
    }

    /// This node's authenticated sockets, for [`ServeLimits::sessions`](crate::serve::ServeLimits::sessions).
    pub fn authenticated_sessions(&self) -> crate::serve::AuthenticatedSessions {
        self.authenticated_sessions.clone()
    }

    /// The session, presence and chat stores.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The token service.
    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    /// The node's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// What `/ready` reports.
    pub fn readiness(&self) -> Readiness {
        self.readiness
    }

    /// Sockets connected to this node.
    pub fn local_sockets(&self) -> u64 {
        self.local_sockets.load(Ordering::Acquire)
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.tokens.clock().now()
    }

    /// Sends `event` to `guest` wherever it is connected. `local` says the guest is known to be
    /// on this node (its pair is local), which skips the adapter.
    ///
    /// Returns `false` when the event certainly did not go out: it could not be serialized, or
    /// the guest's socket here had no room for it or was closing.
    pub(crate) async fn emit_to(
        &self,
        guest: &GuestId,
        event: &impl ServerEvent,
        local: bool,
    ) -> bool {
        self.try_emit_to(guest, event, local).await.is_ok()
    }

    /// [`Duet::emit_to`], telling why an event did not go out.
    pub(crate) async fn try_emit_to(
        &self,
        guest: &GuestId,
        event: &impl ServerEvent,
        local: bool,
    ) -> Result<(), NotSent> {
        let room = user_room(guest);
        let name = event.name();
        let sent = if local {
            self.io.local().to(room).emit(name, event).await
        } else {
            self.io.to(room).emit(name, event).await
        };
        let Err(error) = sent else {
            return Ok(());
        };
        metrics::counter!(names::EMITS_FAILED, "event" => name).increment(1);
        tracing::warn!(%error, event = name, guest_id = %guest, "event not delivered");
        let closing = matches!(&error, BroadcastError::Socket(errors)
            if errors.iter().all(|e| matches!(e, SocketError::Closed)));
        Err(if closing {
            NotSent::Closing
        } else {
            NotSent::Failed
        })
    }

    /// The pair of `guest` when both its guests are on this node.
    pub(crate) fn local_pair(&self, guest: &GuestId) -> Option<Arc<Pair>> {
        self.lock_local_pairs().get(guest).cloned()
    }

    fn lock_local_pairs(&self) -> std::sync::MutexGuard<'_, HashMap<GuestId, Arc<Pair>>> {
        // A std Mutex: held only for a map operation, never across an await; no code panics
        // while holding it, so a poisoned map is still consistent.
        self.local_pairs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers `pair` as local (both of its guests are connected to this node).
    pub(crate) fn remember_local(&self, pair: Pair) {
        let pair = Arc::new(pair);
        let mut local = self.lock_local_pairs();
        for guest in pair.guests() {
            local.insert(guest, Arc::clone(&pair));
        }
    }

    /// Remembers `pair` as local if the store says both guests are connected here.
    pub(crate) async fn remember_if_local(&self, pair: &Pair) {
        for guest in pair.guests() {
            match self.stores.presence.connection(&guest).await {
                Ok(Some(connection)) if connection.node_id == self.node_id => {}
                _ => return,
            }
        }
        self.remember_local(pair.clone());
    }

    /// Forgets the local pair of `guest`, if it has one.
    pub(crate) fn forget_local_of(&self, guest: &GuestId) {
        let mut local = self.lock_local_pairs();
        if let Some(pair) = local.remove(guest) {
            for other in pair.guests() {
                if local.get(&other).is_some_and(|p| p.room_id == pair.room_id) {
                    local.remove(&other);
                }
            }
        }
    }

    /// Drains this node: every guest's chat is held for the grace (its partner hears
    /// `chat:partner:away`), then every transport is closed without Socket.IO's disconnect
    /// packet. To a client this is a dropped connection, so a stock `socket.io-client` with
    /// reconnection on connects again (elsewhere, behind a load balancer) and resumes its chat.
    ///
    /// Returns once the transports are closed; the chats are held first, for at most 5 s.
    pub async fn close(&self) {
        self.draining.store(true, Ordering::Release);
        // Each socket's end is queued behind its events and handled while the namespace still
        // exists: `SocketIo::close` removes it before its disconnect handlers run, and they
        // could no longer tell partners.
        let mut ends = tokio::task::JoinSet::new();
        for socket in self.io.local().sockets() {
            ends.spawn(async move {
                crate::session::end_socket(&socket, DisconnectReason::ClosingServer).await;
            });
        }
        let held = async { while ends.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN_WAIT, held).await.is_err() {
            tracing::warn!(wait = ?DRAIN_WAIT, "holding the chats of the drain took too long; closing anyway");
        }
        self.io.close().await;
    }

    /// Removes this node from presence at once (after [`Duet::close`]), instead of letting its
    /// heartbeat expire.
    pub async fn leave_cluster(&self) -> Result<(), StoreError> {
        self.stores
            .presence
            .remove_node(&self.node_id)
            .await
            .map(drop)
    }

    /// Sends `event` with `data` to every connected guest of the cluster.
    pub async fn broadcast<T: serde::Serialize + ?Sized>(&self, event: &str, data: &T) {
        if let Err(error) = self.io.emit(event, data).await {
            tracing::warn!(%error, event, "broadcast failed");
        }
    }

    /// Sends `event` with `data` to `guest` wherever it is connected; `false` when it has no
    /// live socket.
    pub async fn send_to_user<T: serde::Serialize + ?Sized>(
        &self,
        guest: &GuestId,
        event: &str,
        data: &T,
    ) -> Result<bool, StoreError> {
        if self.stores.presence.connection(guest).await?.is_none() {
            return Ok(false);
        }
        if let Err(error) = self.io.to(user_room(guest)).emit(event, data).await {
            tracing::debug!(%error, event, "send_to_user failed");
        }
        Ok(true)
    }

    /// The counts of `/api/stats`, across the cluster; also refreshes the `duet_*` gauges.
    ///
    /// This node's own sockets are counted as they are now, not as of its last heartbeat, so
    /// `connectedSockets` keeps up with `onlineUsers` here; other nodes' as they last reported.
    pub async fn stats(&self) -> Result<ClusterStats, StoreError> {
        let mut presence = self.stores.stats().await?;
        presence.connected_sockets = presence
            .connected_sockets
            .saturating_sub(self.reported_sockets.load(Ordering::Acquire))
            + self.local_sockets();
        let available_users = self.queue.waiting_count().await.unwrap_or_else(|error| {
            tracing::warn!(%error, "waiting count unavailable");
            0
        });
        metrics::gauge!(names::GUESTS_WAITING).set(available_users as f64);
        metrics::gauge!(names::SESSIONS_LIVE).set(presence.total_sessions as f64);
        metrics::gauge!(names::GUESTS_ONLINE).set(presence.online_guests as f64);
        metrics::gauge!(names::ROOMS_ACTIVE).set(presence.active_rooms as f64);
        metrics::gauge!(names::NODES_LIVE).set(presence.live_nodes as f64);
        Ok(ClusterStats {
            presence,
            available_users,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_room_is_named_by_its_hyphenated_id() {
        // Every node of a cluster, of this version or the one before, must name it alike.
        for _ in 0..100 {
            let guest = GuestId::random();
            assert_eq!(user_room(&guest), format!("user:{guest}"));
        }
    }
}
