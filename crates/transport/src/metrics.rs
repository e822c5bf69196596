//! Prometheus metrics. Every name Duet records starts with `duet_`; `docs/operations.md` lists
//! them.

use std::sync::OnceLock;

use metrics::Counter;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::event::EventName;

/// Guest sessions created (`POST /api/guest/session` answered 201).
pub const SESSIONS_CREATED: &str = "duet_guest_sessions_created_total";
/// Guest sessions refreshed.
pub const SESSIONS_REFRESHED: &str = "duet_guest_sessions_refreshed_total";
/// Guest sessions deleted by their guest.
pub const SESSIONS_DELETED: &str = "duet_guest_sessions_deleted_total";
/// Session creations refused by the per-IP budget.
pub const SESSION_RATE_LIMITED: &str = "duet_session_rate_limited_total";
/// HTTP requests refused by authentication, labelled by `code`.
pub const HTTP_AUTH_FAILURES: &str = "duet_http_auth_failures_total";
/// Live guest sessions in the cluster (set when `/metrics` or `/api/stats` is read).
pub const SESSIONS_LIVE: &str = "duet_sessions_live";
/// Guests online in the cluster.
pub const GUESTS_ONLINE: &str = "duet_guests_online";
/// Chats in progress in the cluster.
pub const ROOMS_ACTIVE: &str = "duet_rooms_active";
/// Live nodes in the cluster.
pub const NODES_LIVE: &str = "duet_nodes_live";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus handle, installing the recorder on first use.
///
/// If the embedding application already installed another global recorder, Duet's metrics go to
/// that one and this handle renders only what it can see (nothing), without failing.
pub fn prometheus_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "a metrics recorder was already installed; /metrics shows only its own"
                );
            }
            handle
        })
        .clone()
}

/// Socket.IO handshakes, labelled by `result` (`ok` or the refusal code).
pub const HANDSHAKES: &str = "duet_socket_handshakes_total";
/// Sockets connected to this node.
pub const SOCKETS_CONNECTED: &str = "duet_sockets_connected";
/// Client events, labelled by `event` and `result` (`ok` or the error code).
pub const EVENTS: &str = "duet_socket_events_total";
/// Events refused by the per-guest budget.
pub const RATE_LIMITED: &str = "duet_socket_rate_limited_total";
/// Bytes relayed to partners (text, files, signaling), labelled by `event`.
pub const RELAYED_BYTES: &str = "duet_relayed_bytes_total";
/// How long guests waited before being paired, in seconds.
pub const MATCH_WAIT_SECONDS: &str = "duet_match_wait_seconds";
/// Guests waiting to be paired in the cluster.
pub const GUESTS_WAITING: &str = "duet_guests_waiting";

/// Reports made, labelled by `reason`.
pub const REPORTS: &str = "duet_reports_total";
/// Blocks made.
pub const BLOCKS: &str = "duet_blocks_total";
/// Bans made, labelled by `source` (`automatic`, `operator`) and `target` (`guest`, `address`).
pub const BANS: &str = "duet_bans_total";
/// Bans lifted by an operator.
pub const BANS_LIFTED: &str = "duet_bans_lifted_total";
/// Requests and handshakes refused for a ban, labelled by `at` (`handshake`, `session`,
/// `http`), and sockets disconnected for one (`at` = `socket`).
pub const BANNED_REFUSALS: &str = "duet_banned_refusals_total";
/// Session creations refused for a missing or bad proof of work, labelled by `code`.
pub const POW_REFUSALS: &str = "duet_pow_refusals_total";
/// Chat texts refused by the content filter.
pub const CONTENT_REFUSED: &str = "duet_content_refused_total";
/// Handshakes refused because the client's address has too many guests connected.
pub const GUESTS_PER_ADDRESS_REFUSED: &str = "duet_guests_per_address_refused_total";
/// Admin API requests refused for a missing or wrong token, labelled by `code`.
pub const ADMIN_AUTH_FAILURES: &str = "duet_admin_auth_failures_total";

/// Server events that could not be delivered (the socket's write buffer was full, or the
/// adapter failed), labelled by `event`.
pub const EMITS_FAILED: &str = "duet_emits_failed_total";
/// The `event` label of events whose name Duet does not know.
pub const UNKNOWN_EVENT: &str = "unknown";

/// Counts one refused client event in [`EVENTS`], its `result` the error code. Events
/// answered `ok` are counted through [`EventCounters`].
pub(crate) fn event_refused(event: &'static str, code: duet_core::ErrorCode) {
    metrics::counter!(EVENTS, "event" => event, "result" => code.as_str()).increment(1);
}

/// Handles of the labelled counters that every relayed event records: [`EVENTS`] with
/// `result="ok"` and [`RELAYED_BYTES`], one per event name, each taken on its first use.
///
/// The `metrics` macros find a labelled counter by hashing its name and labels on every call:
/// callgrind put that at about 1.3 K instructions, twice per relayed message (~5 % of it). A
/// handle is bound to the recorder installed when it is taken; [`prometheus_handle`] installs
/// Duet's while the node is built, before any event can arrive.
#[derive(Debug, Default)]
pub(crate) struct EventCounters {
    answered_ok: [OnceLock<Counter>; EventName::COUNT],
    relayed_bytes: [OnceLock<Counter>; EventName::COUNT],
}

impl EventCounters {
    /// Counts `event` answered `ok`.
    pub(crate) fn answered_ok(&self, event: EventName) {
        self.answered_ok[event.index()]
            .get_or_init(|| metrics::counter!(EVENTS, "event" => event.as_str(), "result" => "ok"))
            .increment(1);
    }

    /// Counts `bytes` relayed to a partner by `event`.
    pub(crate) fn relayed(&self, event: EventName, bytes: usize) {
        self.relayed_bytes[event.index()]
            .get_or_init(|| metrics::counter!(RELAYED_BYTES, "event" => event.as_str()))
            .increment(bytes as u64);
    }
}
/// `chat:message` / `chat:cleared` sent without a `seq`: the store could not number them (a
/// pair on this node while the store is unreachable), so they cannot be replayed.
pub const UNNUMBERED: &str = "duet_events_unnumbered_total";
/// Messages between nodes that the Redis adapter dropped because a receiving buffer was full
/// (socketioxide-redis logs them as lagged or dropped; see [`crate::cluster::loss_counter`]).
pub const CLUSTER_DROPPED: &str = "duet_cluster_messages_dropped_total";
/// Sockets caught up from the store after this node's link to the other nodes was interrupted
/// (see [`crate::AdapterLink`]), labelled by `result`: `sent` (it was in a chat and was sent
/// it again) or `none` (nothing to catch up on).
pub const CATCH_UPS: &str = "duet_socket_catch_ups_total";
/// TCP connections closed at once because their IP held too many that had not authenticated
/// (`DUET_MAX_PENDING_CONNECTIONS_PER_IP`).
pub const CONNECTIONS_REFUSED: &str = "duet_http_connections_refused_total";
/// Times this node found the shared store empty (a Redis restarted without persistence) and
/// wrote back what it holds.
pub const STORE_RESTORES: &str = "duet_store_restores_total";
