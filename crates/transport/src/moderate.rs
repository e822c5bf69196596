//! Keeping abuse out, on the wire: `chat:report` and `chat:block`, bans applied to sockets on
//! every node, the cap on guests per client address, and the checks that handshakes and
//! session creation make. The records and rules themselves are `duet-moderation`'s.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use duet_core::{GuestId, ReportId, RoomId, Timestamp};
use duet_moderation::{
    AddressKey, AddressTag, AutobanPolicy, Ban, BanTarget, ContentFilter, MemoryModeration,
    ModerationError, ModerationStore, ProofOfWork, Report, SentMessage,
};
use socketioxide::adapter::Adapter;

use crate::event::{Ack, EndReason, GuestBanned, ReportRequest, ServerEvent};
use crate::metrics as names;
use crate::node::{Duet, user_room};
use crate::reply::{EventError, Failure};
use crate::session::SocketContext;

/// How long after a chat ended its guests may still report or block each other.
pub const DEFAULT_REPORT_WINDOW: Duration = Duration::from_secs(60);
/// How long the messages kept as evidence outlive the latest one.
const EVIDENCE_TTL: Duration = Duration::from_secs(600);

/// The operator's token for the admin API, kept as its SHA-256 digest and compared in constant
/// time.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
    len: usize,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl AdminToken {
    /// The token `secret` (`DUET_ADMIN_TOKEN`). Production needs at least 32 bytes
    /// ([`AdminToken::len`]); the binary refuses a shorter one there.
    pub fn new(secret: &str) -> Self {
        Self {
            digest: digest(secret),
            len: secret.len(),
        }
    }

    /// The token's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the token is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `presented` is the token. Both are hashed first, so the comparison takes the same
    /// time whatever their lengths and wherever they differ.
    pub fn matches(&self, presented: &str) -> bool {
        let presented = digest(presented);
        self.digest
            .iter()
            .zip(presented)
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0
    }
}

fn digest(text: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).into()
}

/// How a node keeps abuse out: where reports and bans live, when reports become bans, how
/// client addresses are tagged, and the optional filter, proof of work and admin API.
#[derive(Clone)]
pub struct Moderation {
    /// Reports and bans: [`MemoryModeration`] for one node, `RedisModeration` for a cluster.
    pub store: Arc<dyn ModerationStore>,
    /// When reports become bans (`DUET_AUTOBAN_*`).
    pub autoban: AutobanPolicy,
    /// Turns client addresses into tags. Every node of a cluster needs the same key.
    pub address_key: AddressKey,
    /// Applied to every chat text before it is relayed (`DUET_BLOCKED_WORDS_FILE`).
    pub filter: Option<Arc<dyn ContentFilter>>,
    /// Required of `POST /api/guest/session` when set (`DUET_POW_DIFFICULTY` above 0).
    pub proof_of_work: Option<ProofOfWork>,
    /// Turns the admin API on (`DUET_ADMIN_TOKEN`); without it every `/api/admin/...` path is
    /// `404`.
    pub admin_token: Option<AdminToken>,
    /// How many of the reported guest's last messages in the chat are kept with a report
    /// (`DUET_REPORT_EVIDENCE_MESSAGES`, default 0: none, and none are remembered).
    pub evidence_messages: usize,
    /// How long after a chat ends its guests may report or block each other (60 s).
    pub report_window: Duration,
    /// Guests that may be connected from one client address to this node at once
    /// (`DUET_MAX_GUESTS_PER_IP`, default 128; 0: no cap). A guest replacing its own socket
    /// counts once.
    pub max_guests_per_address: u32,
}

impl std::fmt::Debug for Moderation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Moderation")
            .field("store", &self.store)
            .field("autoban", &self.autoban)
            .field("filter", &self.filter.is_some())
            .field("proof_of_work", &self.proof_of_work)
            .field("admin_api", &self.admin_token.is_some())
            .field("evidence_messages", &self.evidence_messages)
            .field("max_guests_per_address", &self.max_guests_per_address)
            .finish_non_exhaustive()
    }
}

impl Moderation {
    /// Moderation on `store` with `address_key` and the defaults: automatic bans after 3
    /// reports, no filter, no proof of work, no admin API, no evidence, 128 guests per address.
    pub fn new(store: Arc<dyn ModerationStore>, address_key: AddressKey) -> Self {
        Self {
            store,
            autoban: AutobanPolicy::default(),
            address_key,
            filter: None,
            proof_of_work: None,
            admin_token: None,
            evidence_messages: 0,
            report_window: DEFAULT_REPORT_WINDOW,
            max_guests_per_address: 128,
        }
    }

    /// [`Moderation::new`] in memory, with a random address key: a single node.
    pub fn in_memory() -> Self {
        Self::new(
            Arc::new(MemoryModeration::new()),
            AddressKey::new(&rand::random::<[u8; 32]>()),
        )
    }
}

/// The guests connected to this node from each address, with their socket counts.
#[derive(Debug, Default)]
pub(crate) struct GuestsByAddress(std::sync::Mutex<HashMap<AddressTag, HashMap<GuestId, u32>>>);

impl GuestsByAddress {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AddressTag, HashMap<GuestId, u32>>> {
        // Held for one map operation, never across an await; nothing panics under it.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a socket of `guest` from `address`, unless that would make more than `max`
    /// guests there (`max` 0: no cap). A guest already counted there always gets in.
    pub(crate) fn admit(&self, address: &AddressTag, guest: GuestId, max: u32) -> bool {
        let mut map = self.lock();
        let guests = map.entry(address.clone()).or_default();
        let known = guests.contains_key(&guest);
        if !known && max > 0 && guests.len() >= max as usize {
            if guests.is_empty() {
                map.remove(address);
            }
            return false;
        }
        *guests.entry(guest).or_default() += 1;
        true
    }

    /// The socket counted by [`admit`](Self::admit) is gone.
    pub(crate) fn release(&self, address: &AddressTag, guest: &GuestId) {
        let mut map = self.lock();
        let Some(guests) = map.get_mut(address) else {
            return;
        };
        if let Some(count) = guests.get_mut(guest) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                guests.remove(guest);
            }
        }
        if guests.is_empty() {
            map.remove(address);
        }
    }
}

/// The client's address: the TCP peer, or with `DUET_TRUST_PROXY` what the trusted proxies say.
pub(crate) fn client_ip<A: Adapter>(
    duet: &Duet<A>,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> IpAddr {
    let peer = peer.unwrap_or_else(|| SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
    if duet.settings.trust_forwarded_for {
        duet.settings.trusted_proxies.client_ip(headers, peer)
    } else {
        peer.ip()
    }
}

/// The client address of a request's parts (the Socket.IO handshake's).
pub(crate) fn address_of_parts<A: Adapter>(
    duet: &Duet<A>,
    parts: &axum::http::request::Parts,
) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    client_ip(duet, &parts.headers, peer)
}

/// Who a report or block is about.
struct Target {
    room: RoomId,
    partner: GuestId,
    /// The guest's chat when it is still on (it ends with the report or block); `None` for one
    /// that ended recently.
    current: Option<duet_presence_store::Pair>,
}

impl<A: Adapter> Duet<A> {
    /// The moderation settings and store.
    pub fn moderation(&self) -> &Moderation {
        &self.moderation
    }

    /// The partner a report or block from `guest` is about: its current one, or the one it
    /// parted from within the report window.
    async fn safety_target(&self, guest: &GuestId) -> Result<Target, Failure> {
        if let Some(pair) = self.stores.chats.pair_of(guest).await?
            && let Some(partner) = pair.partner_of(guest)
        {
            return Ok(Target {
                room: pair.room_id,
                partner,
                current: Some(pair),
            });
        }
        let last = self.stores.chats.last_chat(guest).await?;
        let window_start = self.now().saturating_sub(self.moderation.report_window);
        match last {
            Some(last) if last.ended_at >= window_start => Ok(Target {
                room: last.room_id,
                partner: last.partner,
                current: None,
            }),
            _ => Err(EventError::not_in_chat().into()),
        }
    }

    /// The part a report and a block share: the two are kept apart for as long as either
    /// session lives, then the chat ends as `chat:leave` ends it. Apart first, so neither can
    /// be paired with the other in between.
    async fn part_for_good(
        &self,
        context: &SocketContext<A>,
        target: &Target,
    ) -> Result<Option<duet_presence_store::Connection>, Failure> {
        let partner = self.stores.presence.connection(&target.partner).await?;
        let until = partner
            .as_ref()
            .map_or(context.session.expires_at(), |c| c.session_expires_at)
            .max(context.session.expires_at());
        self.queue
            .keep_apart(&context.guest, &target.partner, until)
            .await?;
        // The pair as it was read: ending it again is harmless (only the first end of a room
        // does anything), so it need not be read twice.
        if let Some(pair) = &target.current {
            self.end_chat(pair, &context.guest, EndReason::Left).await?;
        }
        Ok(partner)
    }

    /// `chat:report`: recorded, the chat ends, the two never meet again, and enough distinct
    /// reporters ban the reported guest (and its address) everywhere.
    pub(crate) async fn report(
        &self,
        context: &SocketContext<A>,
        request: ReportRequest,
    ) -> Result<Ack, Failure> {
        let target = self.safety_target(&context.guest).await?;
        let partner = self.part_for_good(context, &target).await?;
        let moderation = &self.moderation;
        let evidence = if moderation.evidence_messages == 0 {
            Vec::new()
        } else {
            let mut sent = moderation
                .store
                .sent_recently(&target.partner, &target.room)
                .await?;
            let skip = sent.len().saturating_sub(moderation.evidence_messages);
            sent.drain(..skip);
            sent
        };
        let report = Report {
            id: ReportId::random(),
            created_at: self.now(),
            reporter: context.guest,
            reported: target.partner,
            room_id: target.room,
            reason: request.reason,
            note: request.note,
            reported_address: partner
                .and_then(|c| c.address_tag)
                .and_then(|tag| AddressTag::parse(&tag)),
            evidence,
        };
        let policy = moderation.autoban;
        let reporters = moderation
            .store
            .record_report(&report, policy.window, policy.retention)
            .await?;
        metrics::counter!(names::REPORTS, "reason" => report.reason.as_str()).increment(1);
        tracing::info!(report_id = %report.id, reason = %report.reason, reporters, "guest reported");
        for ban in policy.bans_after(&report, reporters) {
            self.impose(&ban).await?;
        }
        Ok(Ack::Reported(report.id))
    }

    /// `chat:block`: the chat ends and the two never meet again while either session lives.
    pub(crate) async fn block(&self, context: &SocketContext<A>) -> Result<Ack, Failure> {
        let target = self.safety_target(&context.guest).await?;
        self.part_for_good(context, &target).await?;
        metrics::counter!(names::BLOCKS).increment(1);
        Ok(Ack::Done)
    }

    /// Records `ban` and applies it: a banned guest's sockets are told and disconnected on
    /// whichever node they are; the sockets of a banned address on this node at once, on the
    /// others within a second (each polls the bans' version).
    pub(crate) async fn impose(&self, ban: &Ban) -> Result<(), ModerationError> {
        self.moderation.store.ban(ban).await?;
        let target = match ban.target {
            BanTarget::GuestId(_) => "guest",
            BanTarget::Address(_) => "address",
        };
        let source = match ban.source {
            duet_moderation::BanSource::Automatic => "automatic",
            duet_moderation::BanSource::Operator => "operator",
        };
        metrics::counter!(names::BANS, "source" => source, "target" => target).increment(1);
        tracing::info!(ban_id = %ban.id, target, source, expires_at = %ban.expires_at, "ban made");
        match &ban.target {
            BanTarget::GuestId(guest) => self.send_away(guest, ban.expires_at, false).await,
            BanTarget::Address(_) => self.apply_bans_here(std::slice::from_ref(ban)).await,
        }
        Ok(())
    }

    /// Tells `guest` it is banned until `until` and disconnects its sockets (`local`: only
    /// those of this node). Its chat ends for its partner as any server-side disconnection
    /// ends it.
    async fn send_away(&self, guest: &GuestId, until: Timestamp, local: bool) {
        let event = GuestBanned {
            expires_at: until,
            message: "you were banned for abuse reports",
        };
        let room = user_room(guest);
        let (told, gone) = if local {
            let to = self.io.local().to(room);
            (
                to.clone().emit(event.name(), &event).await,
                to.disconnect().await,
            )
        } else {
            let to = self.io.to(room);
            (
                to.clone().emit(event.name(), &event).await,
                to.disconnect().await,
            )
        };
        if let Err(error) = told {
            tracing::debug!(%error, "guest:banned not delivered");
        }
        if let Err(error) = gone {
            tracing::debug!(%error, "a banned guest's sockets not disconnected");
        }
        metrics::counter!(names::BANNED_REFUSALS, "at" => "socket").increment(1);
    }

    /// Disconnects this node's sockets that `bans` shut out.
    async fn apply_bans_here(&self, bans: &[Ban]) {
        let now = self.now();
        for context in crate::session::local_contexts(&self.io) {
            let ban = bans
                .iter()
                .filter(|ban| ban.holds_at(now))
                .find(|ban| match &ban.target {
                    BanTarget::GuestId(guest) => *guest == context.guest,
                    BanTarget::Address(tag) => context.address == *tag,
                });
            if let Some(ban) = ban {
                self.send_away(&context.guest, ban.expires_at, true).await;
            }
        }
    }

    /// Each upkeep tick: when bans changed anywhere in the cluster, applies them to this node's
    /// sockets. One read of one key when nothing changed.
    pub(crate) async fn check_bans(&self) {
        let version = match self.moderation.store.bans_version().await {
            Ok(version) => version,
            Err(error) => {
                tracing::warn!(%error, "cannot read the bans' version");
                return;
            }
        };
        if self.bans_seen.swap(version, Ordering::AcqRel) == version {
            return;
        }
        match self.moderation.store.bans().await {
            Ok(bans) => self.apply_bans_here(&bans).await,
            Err(error) => {
                // Seen again next tick.
                self.bans_seen.store(u64::MAX, Ordering::Release);
                tracing::warn!(%error, "cannot read the bans");
            }
        }
    }

    /// The ban that holds now for `guest` or `address`, if any.
    pub(crate) async fn ban_of(
        &self,
        guest: Option<&GuestId>,
        address: Option<&AddressTag>,
    ) -> Result<Option<Ban>, ModerationError> {
        self.moderation.store.ban_of(guest, address).await
    }

    /// The content filter's verdict on a chat text: `CONTENT_REFUSED` when it refuses it.
    pub(crate) fn check_content(&self, text: Option<&str>) -> Result<(), EventError> {
        match (&self.moderation.filter, text) {
            (Some(filter), Some(text)) if !filter.allows(text) => {
                metrics::counter!(names::CONTENT_REFUSED).increment(1);
                Err(EventError::new(
                    duet_core::ErrorCode::ContentRefused,
                    "this message was refused by the content filter",
                ))
            }
            _ => Ok(()),
        }
    }

    /// Remembers a relayed message as possible evidence, when the operator keeps any.
    pub(crate) async fn remember_evidence(
        &self,
        guest: &GuestId,
        room: &RoomId,
        text: Option<String>,
        file_name: Option<String>,
        sent_at: Timestamp,
    ) {
        let keep = self.moderation.evidence_messages;
        let message = SentMessage {
            text,
            file_name,
            sent_at,
        };
        let remembered = self
            .moderation
            .store
            .remember_sent(guest, room, &message, keep, EVIDENCE_TTL)
            .await;
        if let Err(error) = remembered {
            tracing::warn!(%error, "a message was not remembered as evidence");
        }
    }
}
