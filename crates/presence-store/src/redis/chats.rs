//! [`ChatStore`] on Redis.

use async_trait::async_trait;
use duet_core::{GuestId, RoomId, Timestamp};
use fred::prelude::{KeysInterface, SortedSetsInterface, Value};

use super::scripts::{
    ChatOf, ComeBack, CreatePair, EndPair, ForgetKept, HoldForReturn, HoldSince, Keep, KeepInChat,
    KeepMarker, ReleaseHold, SetAway, TakeOverdueAway,
};
use super::{RedisStore, backend, parse};
use crate::chats::ChatStore;
use crate::error::StoreError;
use crate::kept::{KeepLimits, Kept, KeptEntry, LastSeen, Return};
use crate::model::{LastChat, Pair};

#[async_trait]
impl ChatStore for RedisStore {
    async fn create_pair(&self, pair: &Pair) -> Result<bool, StoreError> {
        if pair.initiator == pair.responder {
            return Ok(false);
        }
        let call = CreatePair {
            room: pair.room_id,
            guests: pair.guests(),
            json: serde_json::to_string(pair)?,
            ttl: self.config.pair_ttl,
            deadline: self.now().saturating_add(self.config.pair_ttl),
        };
        Ok(self.call::<_, i64>(call).await? == 1)
    }

    async fn pair_of(&self, guest: &GuestId) -> Result<Option<Pair>, StoreError> {
        let json = self.get(self.keys.pair(guest)).await?;
        parse(json)
    }

    async fn pairs_of(&self, guests: &[GuestId]) -> Result<Vec<Option<Pair>>, StoreError> {
        if guests.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = guests.iter().map(|guest| self.keys.pair(guest)).collect();
        let values: Vec<Option<String>> = self.client.mget(keys).await.map_err(backend)?;
        values.into_iter().map(parse).collect()
    }

    async fn chat_of(&self, guest: &GuestId) -> Result<Option<(Pair, bool)>, StoreError> {
        let reply: Vec<String> = self.call(ChatOf { guest: *guest }).await?;
        let [json, away] = &reply[..] else {
            return Ok(None);
        };
        let pair: Pair = serde_json::from_str(json)?;
        Ok(Some((pair, away == "1")))
    }

    async fn end_pair(&self, room: &RoomId) -> Result<Option<Pair>, StoreError> {
        // A room's guests never change: read them, then end the room with all its keys known.
        let json = self.get(self.keys.room(room)).await?;
        let Some(pair) = parse::<Pair>(json)? else {
            let _: i64 = self
                .client
                .zrem(self.keys.rooms(), room.to_string())
                .await
                .map_err(backend)?;
            return Ok(None);
        };
        let now = self.now();
        let until = now
            .saturating_add(self.config.last_partner_ttl)
            .unix_millis();
        let ended = now.unix_millis();
        let call = EndPair {
            room: *room,
            guests: pair.guests(),
            last_partners: [
                format!("{}|{until}|{room}|{ended}", pair.responder),
                format!("{}|{until}|{room}|{ended}", pair.initiator),
            ],
            last_partner_ttl: self.config.last_partner_ttl,
        };
        let ended: Option<String> = self.call(call).await?;
        parse(ended)
    }

    async fn last_chat(&self, guest: &GuestId) -> Result<Option<LastChat>, StoreError> {
        let entry = self.get(self.keys.last_partner(guest)).await?;
        // Stored as "<partner>|<until ms>|<room>|<ended ms>": the key's TTL frees the memory,
        // the deadline keeps expiry exact against the store's clock.
        let Some(entry) = entry else {
            return Ok(None);
        };
        let corrupt = || StoreError::Corrupt(format!("last chat {entry:?}"));
        let mut fields = entry.split('|');
        let mut next = || fields.next().ok_or_else(corrupt);
        let (partner, until, room, ended) = (next()?, next()?, next()?, next()?);
        let until: i64 = until.parse().map_err(|_| corrupt())?;
        if until <= self.now().unix_millis() {
            return Ok(None);
        }
        Ok(Some(LastChat {
            partner: partner.parse().map_err(|_| corrupt())?,
            room_id: room.parse().map_err(|_| corrupt())?,
            ended_at: Timestamp::from_unix_millis(ended.parse().map_err(|_| corrupt())?),
        }))
    }

    async fn set_away(&self, guest: &GuestId, until: Timestamp) -> Result<(), StoreError> {
        let call = SetAway {
            guest: *guest,
            until,
            index_ttl: self.config.index_ttl,
            log_ttl: self.config.pair_ttl,
        };
        self.call::<_, Value>(call).await.map(drop)
    }

    async fn away_until(&self, guest: &GuestId) -> Result<Option<Timestamp>, StoreError> {
        let until: Option<f64> = self
            .client
            .zscore(self.keys.away(), guest.to_string())
            .await
            .map_err(backend)?;
        // Scores are whole milliseconds, far inside f64's exact range.
        Ok(until.map(|ms| Timestamp::from_unix_millis(ms as i64)))
    }

    async fn clear_away(&self, guest: &GuestId) -> Result<bool, StoreError> {
        let removed: i64 = self
            .client
            .zrem(self.keys.away(), guest.to_string())
            .await
            .map_err(backend)?;
        Ok(removed == 1)
    }

    async fn take_overdue_away(&self, limit: usize) -> Result<Vec<GuestId>, StoreError> {
        let call = TakeOverdueAway {
            now: self.now(),
            limit,
        };
        let guests: Vec<String> = self.call(call).await?;
        Ok(guests.iter().filter_map(|g| g.parse().ok()).collect())
    }

    async fn keep(
        &self,
        guest: &GuestId,
        entry: Vec<u8>,
        limits: &KeepLimits,
    ) -> Result<Kept, StoreError> {
        let call = Keep {
            guest: *guest,
            entry,
            limits: *limits,
            now: self.now(),
            ttl: self.config.pair_ttl,
        };
        parse_kept(self.call(call).await?)
    }

    async fn keep_in_chat(
        &self,
        sender: &GuestId,
        room: &RoomId,
        recipient: &GuestId,
        entry: Vec<u8>,
        limits: &KeepLimits,
    ) -> Result<Option<Kept>, StoreError> {
        let call = KeepInChat {
            sender: *sender,
            room: *room,
            recipient: *recipient,
            entry,
            limits: *limits,
            now: self.now(),
            ttl: self.config.pair_ttl,
        };
        let reply: Vec<Value> = self.call(call).await?;
        if reply.first().and_then(Value::as_str).as_deref() == Some("not_in_chat") {
            return Ok(None);
        }
        parse_kept(reply).map(Some)
    }

    async fn keep_marker(&self, guest: &GuestId, marker: Vec<u8>) -> Result<Kept, StoreError> {
        let call = KeepMarker {
            guest: *guest,
            marker,
            now: self.now(),
            ttl: self.config.pair_ttl,
        };
        parse_kept(self.call(call).await?)
    }

    async fn hold_for_return(&self, guest: &GuestId) -> Result<bool, StoreError> {
        let call = HoldForReturn {
            guest: *guest,
            ttl: self.config.pair_ttl,
        };
        Ok(self.call::<_, i64>(call).await? == 1)
    }

    async fn come_back(
        &self,
        guest: &GuestId,
        seen: Option<LastSeen>,
    ) -> Result<Return, StoreError> {
        let reply: Vec<Value> = self
            .call(ComeBack {
                guest: *guest,
                seen,
                ttl: self.config.pair_ttl,
            })
            .await?;
        let mut reply = reply.into_iter();
        let corrupt = || StoreError::Corrupt("come_back reply".to_owned());
        let pair = reply
            .next()
            .and_then(|v| v.into_string())
            .ok_or_else(corrupt)?;
        let was_away = reply
            .next()
            .and_then(|v| v.into_string())
            .ok_or_else(corrupt)?;
        let pair = match pair.as_str() {
            "" => None,
            json => Some(serde_json::from_str(json)?),
        };
        Ok(Return {
            pair,
            was_away: was_away == "1",
            entries: parse_entries(reply, "come_back reply")?,
        })
    }

    async fn release_hold(&self, guest: &GuestId) -> Result<Vec<KeptEntry>, StoreError> {
        let call = ReleaseHold {
            guest: *guest,
            ttl: self.config.pair_ttl,
        };
        let reply: Vec<Value> = self.call(call).await?;
        parse_entries(reply, "release_hold reply")
    }

    async fn hold_since(&self, guest: &GuestId, seq: u64) -> Result<(), StoreError> {
        let call = HoldSince {
            guest: *guest,
            seq,
            ttl: self.config.pair_ttl,
        };
        self.call::<_, i64>(call).await.map(drop)
    }

    async fn forget_kept(&self, guest: &GuestId) -> Result<(), StoreError> {
        self.call::<_, i64>(ForgetKept { guest: *guest })
            .await
            .map(drop)
    }

    async fn count_chats(&self) -> Result<u64, StoreError> {
        self.count_live(self.keys.rooms()).await
    }
}

/// `{ 'live' | 'unkept' | 'held' | 'refused', seq }` from the keep scripts.
fn parse_kept(reply: Vec<Value>) -> Result<Kept, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("keep reply {reply:?}"));
    let [outcome, seq] = &reply[..] else {
        return Err(corrupt());
    };
    let seq = seq.as_u64().ok_or_else(corrupt)?;
    match outcome.as_str().as_deref() {
        Some("live") => Ok(Kept::Live(seq)),
        Some("unkept") => Ok(Kept::Unkept(seq)),
        Some("held") => Ok(Kept::Held(seq)),
        Some("refused") => Ok(Kept::Refused),
        _ => Err(corrupt()),
    }
}

/// Stored entries, each `<seq>|<kept at>|<entry>`; `what` names the reply in the error.
fn parse_entries(
    stored: impl IntoIterator<Item = Value>,
    what: &str,
) -> Result<Vec<KeptEntry>, StoreError> {
    stored
        .into_iter()
        .map(|value| {
            value
                .as_bytes()
                .and_then(parse_entry)
                .ok_or_else(|| StoreError::Corrupt(what.to_owned()))
        })
        .collect()
}

/// A stored `<seq>|<kept at>|<entry>`.
fn parse_entry(stored: &[u8]) -> Option<KeptEntry> {
    let mut fields = stored.splitn(3, |&b| b == b'|');
    let seq = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
    let _kept_at = fields.next()?;
    Some(KeptEntry {
        seq,
        entry: fields.next()?.to_vec(),
    })
}
