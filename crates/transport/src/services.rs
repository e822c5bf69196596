//! [`Services`]: what the HTTP API (and the socket layer) share.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use duet_auth::{Session, TokenService};
use duet_matchmaker::MatchQueue;
use duet_presence_store::{NodeId, PresenceStats, PresenceStore, StoreError};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::metrics as names;
use crate::rate_limit::KeyedBudget;

/// Settings of the HTTP API.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Lifetime of a guest session, and how far a refresh extends it (default 2 hours).
    pub session_ttl: Duration,
    /// Guest sessions one client IP may create per minute (default 30).
    pub sessions_per_minute: u32,
    /// Take the client IP from the first `X-Forwarded-For` entry (only behind a trusted proxy;
    /// default false).
    pub trust_forwarded_for: bool,
    /// How often this node's heartbeat is written (default 3 s).
    pub heartbeat_interval: Duration,
    /// How long a heartbeat keeps a node alive (default 10 s).
    pub heartbeat_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(7200),
            sessions_per_minute: 30,
            trust_forwarded_for: false,
            heartbeat_interval: Duration::from_secs(3),
            heartbeat_ttl: Duration::from_secs(10),
        }
    }
}

/// Which Socket.IO adapter carries messages between nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterKind {
    /// In-process only: a single node.
    Local,
    /// socketioxide-redis: a cluster.
    Redis,
}

impl AdapterKind {
    /// `"local"` or `"redis"`, as `/ready` reports it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Redis => "redis",
        }
    }
}

/// What `/ready` reports beyond the store's own answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// The adapter in use.
    pub adapter: AdapterKind,
    /// Redis was configured but could not be reached at start-up, so this node runs on memory
    /// alone: `/ready` answers 503 `degraded`.
    pub redis_fallback: bool,
}

impl Default for Readiness {
    fn default() -> Self {
        Self {
            adapter: AdapterKind::Local,
            redis_fallback: false,
        }
    }
}

/// The counts of `GET /api/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// What the presence store counts.
    pub presence: PresenceStats,
    /// Guests waiting to be paired.
    pub available_users: u64,
}

type SessionEndListener = Box<dyn Fn(&Session) + Send + Sync>;

/// The shared state of one Duet node: tokens, the presence store, settings and budgets.
pub struct Services {
    /// Issues and verifies guest tokens.
    pub tokens: TokenService,
    /// Sessions, presence and pairs.
    pub store: Arc<dyn PresenceStore>,
    /// HTTP settings.
    pub settings: Settings,
    /// What `/ready` reports.
    pub readiness: Readiness,
    /// This node's id.
    pub node_id: NodeId,
    pub(crate) session_budget: KeyedBudget<IpAddr>,
    pub(crate) prometheus: PrometheusHandle,
    session_end_listeners: RwLock<Vec<SessionEndListener>>,
    queue: Option<Arc<dyn MatchQueue>>,
    connected_sockets: AtomicU64,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("store", &self.store.kind())
            .field("settings", &self.settings)
            .field("readiness", &self.readiness)
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Services {
    /// Services on `store`, signing with `tokens`.
    pub fn new(tokens: TokenService, store: Arc<dyn PresenceStore>, settings: Settings) -> Self {
        Self {
            session_budget: KeyedBudget::new(settings.sessions_per_minute, Duration::from_secs(60)),
            tokens,
            store,
            settings,
            readiness: Readiness::default(),
            node_id: NodeId::random(),
            prometheus: crate::metrics::prometheus_handle(),
            session_end_listeners: RwLock::new(Vec::new()),
            queue: None,
            connected_sockets: AtomicU64::new(0),
        }
    }

    /// Counts waiting guests (`availableUsers`) in `queue`.
    pub fn with_queue(mut self, queue: Arc<dyn MatchQueue>) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Sets how many sockets this node holds, as its heartbeat reports.
    pub fn set_connected_sockets(&self, sockets: u64) {
        self.connected_sockets.store(sockets, Ordering::Relaxed);
    }

    /// Sets what `/ready` reports.
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
        self
    }

    /// Sets this node's id.
    pub fn with_node_id(mut self, node_id: NodeId) -> Self {
        self.node_id = node_id;
        self
    }

    /// Calls `listener` whenever a session ends (deleted by its guest or expired), so the socket
    /// layer can disconnect its guest and end its chat.
    pub fn on_session_end(&self, listener: impl Fn(&Session) + Send + Sync + 'static) {
        if let Ok(mut listeners) = self.session_end_listeners.write() {
            listeners.push(Box::new(listener));
        }
    }

    pub(crate) async fn session_ended(&self, session: &Session) {
        if let Ok(listeners) = self.session_end_listeners.read() {
            for listener in listeners.iter() {
                listener(session);
            }
        }
    }

    /// Cluster-wide counts; also refreshes the `duet_*` gauges.
    pub async fn stats(&self) -> Result<ClusterStats, StoreError> {
        let presence = self.store.stats().await?;
        let available_users = match &self.queue {
            Some(queue) => queue.waiting_count().await.unwrap_or_else(|error| {
                tracing::warn!(%error, "waiting count unavailable");
                0
            }),
            // Without a match queue nobody can wait.
            None => 0,
        };
        let stats = ClusterStats {
            presence,
            available_users,
        };
        metrics::gauge!(names::GUESTS_WAITING).set(available_users as f64);
        metrics::gauge!(names::SESSIONS_LIVE).set(presence.total_sessions as f64);
        metrics::gauge!(names::GUESTS_ONLINE).set(presence.online_guests as f64);
        metrics::gauge!(names::ROOMS_ACTIVE).set(presence.active_rooms as f64);
        metrics::gauge!(names::NODES_LIVE).set(presence.live_nodes as f64);
        Ok(stats)
    }

    /// Runs this node's periodic duties until the returned task is aborted: the heartbeat, and
    /// pruning the per-IP budgets.
    pub fn spawn_maintenance(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let services = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(services.settings.heartbeat_interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut ticks: u64 = 0;
            loop {
                ticker.tick().await;
                ticks = ticks.wrapping_add(1);
                services.maintenance_tick(ticks).await;
            }
        })
    }

    async fn maintenance_tick(&self, tick: u64) {
        let ttl = self.settings.heartbeat_ttl;
        let sockets = self.connected_sockets.load(Ordering::Relaxed);
        if let Err(error) = self.store.heartbeat(&self.node_id, sockets, ttl).await {
            tracing::warn!(%error, node_id = %self.node_id, "heartbeat failed");
        }
        if tick.is_multiple_of(20) {
            self.session_budget.prune();
        }
    }
}
