//! `RedisModeration`: the cluster backend, shared by every node (feature `redis`).
//!
//! Every change that two nodes could race on runs as one Lua script (`lua/*.lua`); every key
//! carries a TTL or is pruned by score on each write. Keys (after the prefix): `report:<id>`,
//! `reports` and `reports:<guest>` (indexes scored by each report's end), `reporters:<guest>`,
//! `ban:<id>`, `ban-of:guest:<id>` / `ban-of:address:<tag>`, `bans` (scored by expiry),
//! `bans-version`, `claim:<token>`, `sent:<guest>:<room>`, `device:<tag>`. Scripts that follow an id to its
//! record (a ban's target, a report's body) build that key from the prefix, as the match queue's
//! do: on Redis Cluster the prefix needs a hash tag, which keeps them in one slot.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use duet_core::{BanId, Clock, GuestId, RoomId, SystemClock, Timestamp};
use fred::prelude::{Client, ClientLike, KeysInterface, ListInterface, Value};
use fred::types::scripts::Script;
use fred::types::{Expiration, SetOptions};

use crate::error::ModerationError;
use crate::model::{
    AddressTag, Ban, ModerationCounts, Report, ReportPage, ReportQuery, SentMessage,
};
use crate::store::{ModerationStore, later, targets};

/// Settings of a [`RedisModeration`].
#[derive(Debug, Clone)]
pub struct RedisModerationConfig {
    /// Prepended to every key (default `duet:`, the presence store's: the names do not clash).
    /// On Redis Cluster it must carry a hash tag (`{duet}:`).
    pub key_prefix: String,
}

impl Default for RedisModerationConfig {
    fn default() -> Self {
        Self {
            key_prefix: "duet:".to_owned(),
        }
    }
}

struct Scripts {
    record_report: Script,
    reports: Script,
    ban: Script,
    lift: Script,
    ban_of: Script,
    bans: Script,
    counts: Script,
    remember_sent: Script,
    note_device: Script,
}

impl Scripts {
    fn load() -> Self {
        let lua = |source: &str| Script::from_lua(source);
        Self {
            record_report: lua(include_str!("../lua/record_report.lua")),
            reports: lua(include_str!("../lua/reports.lua")),
            ban: lua(include_str!("../lua/ban.lua")),
            lift: lua(include_str!("../lua/lift.lua")),
            ban_of: lua(include_str!("../lua/ban_of.lua")),
            bans: lua(include_str!("../lua/bans.lua")),
            counts: lua(include_str!("../lua/counts.lua")),
            remember_sent: lua(include_str!("../lua/remember_sent.lua")),
            note_device: lua(include_str!("../lua/note_device.lua")),
        }
    }
}

/// Reports and bans on Redis, shared by every node of a cluster.
#[derive(Clone)]
pub struct RedisModeration {
    client: Client,
    prefix: Arc<str>,
    clock: Arc<dyn Clock>,
    scripts: Arc<Scripts>,
}

impl std::fmt::Debug for RedisModeration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisModeration")
            .field("key_prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisModeration {
    /// A store on `client` (from `duet_core::redis::connect` or set up alike). Refused on Redis
    /// Cluster when the prefix has no hash tag.
    pub fn new(client: Client, config: RedisModerationConfig) -> Result<Self, ModerationError> {
        Self::with_clock(client, config, Arc::new(SystemClock))
    }

    /// A store on `client` that reads time from `clock`.
    pub fn with_clock(
        client: Client,
        config: RedisModerationConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ModerationError> {
        let tagged = config
            .key_prefix
            .split_once('{')
            .is_some_and(|(_, rest)| rest.find('}').is_some_and(|end| end > 0));
        if client.is_clustered() && !tagged {
            return Err(ModerationError::Config(format!(
                "on Redis Cluster the key prefix {:?} needs a hash tag such as {{duet}}:",
                config.key_prefix
            )));
        }
        Ok(Self {
            client,
            prefix: config.key_prefix.into(),
            clock,
            scripts: Arc::new(Scripts::load()),
        })
    }

    fn key(&self, name: impl std::fmt::Display) -> String {
        format!("{}{name}", self.prefix)
    }

    async fn run<R: fred::types::FromValue>(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> Result<R, ModerationError> {
        script
            .evalsha_with_reload(&self.client, keys, args)
            .await
            .map_err(backend)
    }

    fn now_text(&self) -> Value {
        text(self.clock.now().unix_millis())
    }
}

fn backend(error: fred::error::Error) -> ModerationError {
    ModerationError::Backend(Box::new(error))
}

fn text(value: impl ToString) -> Value {
    Value::from(value.to_string())
}

fn millis(duration: Duration) -> Value {
    text(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
}

fn parse_all<T: serde::de::DeserializeOwned>(jsons: &[String]) -> Result<Vec<T>, ModerationError> {
    jsons
        .iter()
        .map(|json| serde_json::from_str(json).map_err(ModerationError::from))
        .collect()
}

#[async_trait]
impl ModerationStore for RedisModeration {
    fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    async fn record_report(
        &self,
        report: &Report,
        window: Duration,
        retention: Duration,
    ) -> Result<u32, ModerationError> {
        let keys = vec![
            self.key(format_args!("report:{}", report.id)),
            self.key("reports"),
            self.key(format_args!("reports:{}", report.reported)),
            self.key(format_args!("reporters:{}", report.reported)),
        ];
        let args = vec![
            text(serde_json::to_string(report)?),
            text(report.created_at.unix_millis()),
            text(report.id),
            text(report.reporter),
            millis(window),
            millis(retention),
        ];
        let count: i64 = self.run(&self.scripts.record_report, keys, args).await?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn reports(&self, query: &ReportQuery) -> Result<ReportPage, ModerationError> {
        let index = match query.reported {
            Some(guest) => self.key(format_args!("reports:{guest}")),
            None => self.key("reports"),
        };
        let args = vec![
            self.now_text(),
            text(query.offset),
            text(query.limit),
            text(self.key("report:")),
        ];
        let answer: Vec<String> = self.run(&self.scripts.reports, vec![index], args).await?;
        let (total, jsons) = answer
            .split_first()
            .ok_or_else(|| ModerationError::Corrupt("an empty answer to reports".into()))?;
        let total = total
            .parse()
            .map_err(|_| ModerationError::Corrupt(format!("report count {total:?}")))?;
        Ok(ReportPage {
            reports: parse_all(jsons)?,
            total,
        })
    }

    async fn ban(&self, ban: &Ban) -> Result<(), ModerationError> {
        let keys = vec![
            self.key(format_args!("ban:{}", ban.id)),
            self.key(format_args!("ban-of:{}", ban.target.key())),
            self.key("bans"),
            self.key("bans-version"),
        ];
        let args = vec![
            text(self.key("ban:")),
            text(ban.id),
            text(serde_json::to_string(ban)?),
            text(ban.expires_at.unix_millis()),
            self.now_text(),
        ];
        let _version: i64 = self.run(&self.scripts.ban, keys, args).await?;
        Ok(())
    }

    async fn bans(&self) -> Result<Vec<Ban>, ModerationError> {
        let now = self.clock.now();
        let args = vec![text(now.unix_millis()), text(self.key("ban:"))];
        let jsons: Vec<String> = self
            .run(&self.scripts.bans, vec![self.key("bans")], args)
            .await?;
        let mut bans: Vec<Ban> = parse_all(&jsons)?;
        bans.retain(|ban| ban.holds_at(now));
        bans.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(bans)
    }

    async fn lift(&self, id: &BanId) -> Result<bool, ModerationError> {
        let keys = vec![
            self.key(format_args!("ban:{id}")),
            self.key("bans"),
            self.key("bans-version"),
        ];
        let args = vec![text(self.key("ban-of:")), text(id), self.now_text()];
        let lifted: i64 = self.run(&self.scripts.lift, keys, args).await?;
        Ok(lifted == 1)
    }

    async fn ban_of(
        &self,
        guest: Option<&GuestId>,
        address: Option<&AddressTag>,
    ) -> Result<Option<Ban>, ModerationError> {
        let keys: Vec<String> = targets(guest, address)
            .iter()
            .map(|target| self.key(format_args!("ban-of:{}", target.key())))
            .collect();
        if keys.is_empty() {
            return Ok(None);
        }
        let jsons: Vec<String> = self
            .run(&self.scripts.ban_of, keys, vec![text(self.key("ban:"))])
            .await?;
        let now = self.clock.now();
        Ok(parse_all::<Ban>(&jsons)?
            .into_iter()
            .filter(|ban| ban.holds_at(now))
            .fold(None, |found, ban| later(found, Some(ban))))
    }

    async fn bans_version(&self) -> Result<u64, ModerationError> {
        let version: Option<u64> = self
            .client
            .get(self.key("bans-version"))
            .await
            .map_err(backend)?;
        Ok(version.unwrap_or(0))
    }

    async fn claim_once(&self, token: &str, until: Timestamp) -> Result<bool, ModerationError> {
        if until <= self.clock.now() {
            return Ok(false);
        }
        let key = self.key(format_args!("claim:{token}"));
        let set: Option<String> = self
            .client
            .set(
                key,
                "1",
                Some(Expiration::PXAT(until.unix_millis())),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(backend)?;
        Ok(set.is_some())
    }

    async fn remember_sent(
        &self,
        guest: &GuestId,
        room: &RoomId,
        message: &SentMessage,
        keep: usize,
        ttl: Duration,
    ) -> Result<(), ModerationError> {
        if keep == 0 {
            return Ok(());
        }
        let keys = vec![self.key(format_args!("sent:{guest}:{room}"))];
        let args = vec![
            text(serde_json::to_string(message)?),
            text(keep),
            millis(ttl),
        ];
        let _: i64 = self.run(&self.scripts.remember_sent, keys, args).await?;
        Ok(())
    }

    async fn sent_recently(
        &self,
        guest: &GuestId,
        room: &RoomId,
    ) -> Result<Vec<SentMessage>, ModerationError> {
        let key = self.key(format_args!("sent:{guest}:{room}"));
        let jsons: Vec<String> = self.client.lrange(key, 0, -1).await.map_err(backend)?;
        parse_all(&jsons)
    }

    async fn note_device(
        &self,
        device: &str,
        guest: &GuestId,
        until: Timestamp,
    ) -> Result<Vec<GuestId>, ModerationError> {
        let keys = vec![self.key(format_args!("device:{device}"))];
        let args = vec![text(guest), text(until.unix_millis()), self.now_text()];
        let others: Vec<String> = self.run(&self.scripts.note_device, keys, args).await?;
        others
            .iter()
            .map(|id| {
                id.parse()
                    .map_err(|_| ModerationError::Corrupt(format!("device guest {id:?}")))
            })
            .collect()
    }

    async fn counts(&self) -> Result<ModerationCounts, ModerationError> {
        let keys = vec![self.key("reports"), self.key("bans")];
        let (reports, active_bans): (u64, u64) = self
            .run(&self.scripts.counts, keys, vec![self.now_text()])
            .await?;
        Ok(ModerationCounts {
            reports,
            active_bans,
        })
    }
}
