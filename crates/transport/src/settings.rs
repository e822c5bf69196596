//! [`Settings`] of a node, and what `/ready` reports about its backends.

use std::time::Duration;

use duet_presence_store::KeepLimits;
use duet_signaling::IceConfig;

use crate::client_ip::TrustedProxies;
use crate::held::HELD_MESSAGES;
use socketioxide::{ParserConfig, SocketIo, SocketIoBuilder, TransportType};

/// Everything a Duet node can be configured with (`DUET_*` in the binary). The defaults are
/// those of protocol.md §3.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Lifetime of a guest session, and how far a refresh extends it
    /// (`DUET_SESSION_TTL_SECONDS`, default 2 hours).
    pub session_ttl: Duration,
    /// Guest sessions one client IP may create per minute
    /// (`DUET_SESSION_RATE_LIMIT_PER_MINUTE`, default 30).
    pub sessions_per_minute: u32,
    /// Take client IPs from `X-Forwarded-For` (`DUET_TRUST_PROXY`, default false): the
    /// rightmost entry that is not one of [`Settings::trusted_proxies`], for requests that came
    /// from one of them.
    pub trust_forwarded_for: bool,
    /// The proxies whose `X-Forwarded-For` entries are believed (`DUET_TRUSTED_PROXIES`,
    /// default loopback and private networks).
    pub trusted_proxies: TrustedProxies,
    /// How often this node's heartbeat is written (default 3 s).
    pub heartbeat_interval: Duration,
    /// How long a heartbeat keeps a node alive (default 10 s).
    pub heartbeat_ttl: Duration,
    /// Events per guest per window (`DUET_RATE_LIMIT_MAX`, default 100).
    pub rate_limit_max: u32,
    /// The budget's window (`DUET_RATE_LIMIT_WINDOW_MS`, default 60 s).
    pub rate_limit_window: Duration,
    /// How long a dropped guest's chat is held (`DUET_RESUME_GRACE_MS`, default 15 s; zero
    /// turns resuming off).
    pub resume_grace: Duration,
    /// How long the chat of a guest whose page said it is going away (`chat:leaving`: the tab
    /// is closed or reloaded) is held once its connection drops (`DUET_RELOAD_GRACE_MS`,
    /// default 3 s: enough for a reload, short enough that a closed tab's partner knows soon).
    /// Never longer than [`Settings::resume_grace`].
    pub reload_grace: Duration,
    /// The largest file in one `chat:message` (`DUET_MAX_FILE_BYTES`, default 1 MiB).
    pub max_file_bytes: usize,
    /// Engine.IO ping interval (default 25 s).
    pub ping_interval: Duration,
    /// Engine.IO ping timeout (default 60 s).
    pub ping_timeout: Duration,
    /// ICE servers handed to clients.
    pub ice: IceConfig,
    /// How often ended interest waits are turned into pairs (default 100 ms).
    pub matcher_tick: Duration,
    /// Bytes kept for one direction of a chat: what waits for an away guest, and the recent
    /// entries a reconnecting client may ask for again (`DUET_HELD_BYTES_PER_CHAT`, default
    /// 8 MiB; never less than one largest file). Beyond it an away guest's partner is refused
    /// with `PARTNER_AWAY`.
    pub held_bytes_per_chat: usize,
    /// Bytes kept for every chat together, in this node's memory or in the shared Redis
    /// (`DUET_HELD_BYTES_TOTAL`, default 256 MiB). Beyond it messages for away guests are
    /// refused with `PARTNER_AWAY`, and messages for connected guests still go out but are not
    /// kept for a replay.
    pub held_bytes_total: usize,
    /// A short operator notice clients show on their start screen (`DUET_NOTICE`), sent by
    /// `GET /api/config`.
    pub notice: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(7200),
            sessions_per_minute: 30,
            trust_forwarded_for: false,
            trusted_proxies: TrustedProxies::default(),
            heartbeat_interval: Duration::from_secs(3),
            heartbeat_ttl: Duration::from_secs(10),
            rate_limit_max: 100,
            rate_limit_window: Duration::from_secs(60),
            resume_grace: Duration::from_secs(15),
            reload_grace: Duration::from_secs(3),
            max_file_bytes: 1024 * 1024,
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(60),
            ice: IceConfig::default(),
            matcher_tick: Duration::from_millis(100),
            held_bytes_per_chat: 8 * 1024 * 1024,
            held_bytes_total: 256 * 1024 * 1024,
            notice: None,
        }
    }
}

impl Settings {
    /// The largest WebSocket message or polling payload accepted: a full file plus room for the
    /// rest of the packet. Anything larger closes the connection; a file between the file limit
    /// and this bound is refused with `PAYLOAD_TOO_LARGE` and the connection stays.
    pub fn max_message_bytes(&self) -> usize {
        self.max_file_bytes
            .saturating_mul(2)
            .saturating_add(256 * 1024)
    }

    /// What the store may keep of each guest's log: [`HELD_MESSAGES`] entries and
    /// [`Settings::held_bytes_per_chat`] (at least one largest file as stored: base64 and a
    /// little room), within [`Settings::held_bytes_total`]; entries sent to a connected guest
    /// for [`Settings::resume_grace`].
    pub fn keep_limits(&self) -> KeepLimits {
        let largest_entry = self.max_file_bytes.div_ceil(3).saturating_mul(4) + 8 * 1024;
        KeepLimits {
            entries: HELD_MESSAGES,
            bytes: self.held_bytes_per_chat.max(largest_entry),
            total_bytes: self.held_bytes_total,
            live_for: self.resume_grace,
        }
    }

    /// Events one socket may have waiting to run: the event budget (all of it may arrive in one
    /// burst), at least 256 and at most 65 536. Beyond it, events are refused as `RATE_LIMITED`.
    pub fn socket_backlog(&self) -> usize {
        usize::try_from(self.rate_limit_max)
            .unwrap_or(usize::MAX)
            .clamp(256, 65_536)
    }

    /// Packets one socket may have waiting to be written. Every admitted event may add its ack
    /// to its own socket and a packet (two with a file) to its partner's: four per event of
    /// backlog leaves room for both. A packet that does not fit is not sent, and the sender is
    /// told (`PARTNER_AWAY`), never acked `ok`.
    pub fn socket_write_buffer(&self) -> usize {
        self.socket_backlog().saturating_mul(4)
    }

    /// A socketioxide builder with these transport settings: both transports, the heartbeat,
    /// message size bounds on WebSocket frames as well as polling payloads, and the write
    /// buffer ([`Settings::socket_write_buffer`]; engineioxide's default of 128 packets drops
    /// acks and messages of a burst).
    pub fn socket_io_builder(&self) -> SocketIoBuilder {
        let max = self.max_message_bytes();
        SocketIo::builder()
            .ping_interval(self.ping_interval)
            .ping_timeout(self.ping_timeout)
            .max_buffer_size(self.socket_write_buffer())
            .transports([TransportType::Polling, TransportType::Websocket])
            .max_payload(u64::try_from(max).unwrap_or(u64::MAX))
            .ws_max_message_size(max)
            .ws_max_frame_size(max)
            .ws_read_buffer_size(WS_READ_BUFFER_BYTES)
            .with_parser(
                ParserConfig::common()
                    .max_incoming_binary_buf_size(max)
                    .max_incoming_binaries(2),
            )
    }
}

/// Bytes each WebSocket reads at a time, in a buffer every connected socket keeps filled
/// (engineioxide's default is 4 KiB). A chat event is a few hundred bytes, so 1 KiB takes most
/// in one read and saves 3 KiB per idle guest; a larger frame (a file) reserves its whole length
/// and is read in 1 KiB steps, which measured 6–6.5 ms of server CPU per 1 MiB file against
/// 5.75–6 ms at 4 KiB (docs/benchmarks.md).
const WS_READ_BUFFER_BYTES: usize = 1024;

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
