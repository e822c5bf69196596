//! `RedisQueue`: the match queue shared by every node of a cluster (feature `redis`).
//!
//! The state is a few sorted sets scored by wait order (one per interest, two for random pairing)
//! or by deadline (waits ending, tickets expiring), plus one hash per ticket. It changes only
//! inside Lua scripts, so two nodes can never pair the same guest twice, and finding a partner
//! reads the front of a few sorted sets instead of scanning the queue.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use duet_auth::{Clock, GuestId, SystemClock, Timestamp};
use fred::prelude::{Client, KeysInterface, SortedSetsInterface};
use fred::types::scripts::Script;

use crate::error::QueueError;
use crate::interests::Interests;
use crate::model::{DueWork, Enqueued, MatchConfig, Pairing, Ticket, Waiter};
use crate::queue::MatchQueue;

/// Settings of a [`RedisQueue`] beyond the pairing policy.
#[derive(Debug, Clone)]
pub struct RedisQueueConfig {
    /// Prepended to every key (default `duet:mq:`).
    pub key_prefix: String,
}

impl Default for RedisQueueConfig {
    fn default() -> Self {
        Self {
            key_prefix: "duet:mq:".to_owned(),
        }
    }
}

impl RedisQueueConfig {
    /// The same settings with another key prefix.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }
}

/// The match queue on Redis.
#[derive(Clone)]
pub struct RedisQueue {
    client: Client,
    prefix: Arc<str>,
    config: Arc<MatchConfig>,
    clock: Arc<dyn Clock>,
    scripts: Arc<Scripts>,
}

struct Scripts {
    enqueue: Script,
    cancel: Script,
    refresh: Script,
    run_due: Script,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("key_prefix", &self.prefix)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn backend(error: fred::error::Error) -> QueueError {
    QueueError::Backend(Box::new(error))
}

fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

impl RedisQueue {
    /// A queue on `client` (RESP3, connected) with the pairing `config`.
    pub fn new(client: Client, config: MatchConfig, redis: RedisQueueConfig) -> Self {
        Self::with_clock(client, config, redis, Arc::new(SystemClock))
    }

    /// Like [`RedisQueue::new`], measuring waits with `clock` (every node must use the same
    /// notion of time; in production, the system clock synchronised by NTP).
    pub fn with_clock(
        client: Client,
        config: MatchConfig,
        redis: RedisQueueConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let script = |body: &str| Script::from_lua(format!("{}\n{body}", lua::HELPERS));
        Self {
            client,
            prefix: redis.key_prefix.into(),
            config: Arc::new(config),
            clock,
            scripts: Arc::new(Scripts {
                enqueue: script(lua::ENQUEUE),
                cancel: script(lua::CANCEL),
                refresh: script(lua::REFRESH),
                run_due: script(lua::RUN_DUE),
            }),
        }
    }

    /// Arguments every script starts with: prefix, now, interest wait, ticket lifetime.
    fn common_args(&self, now: Timestamp) -> Vec<String> {
        vec![
            self.prefix.to_string(),
            now.unix_millis().to_string(),
            millis(self.config.interest_wait),
            millis(self.config.effective_ticket_ttl()),
        ]
    }

    async fn run(&self, script: &Script, args: Vec<String>) -> Result<Vec<String>, QueueError> {
        script
            .evalsha_with_reload(&self.client, Vec::<String>::new(), args)
            .await
            .map_err(backend)
    }
}

/// Reads `gid, seq, since, interests-json` from `fields`.
fn waiter(fields: &[String]) -> Result<(Waiter, u64), QueueError> {
    let corrupt = || QueueError::Corrupt(format!("ticket fields {fields:?}"));
    let [guest, seq, since, interests] = fields else {
        return Err(corrupt());
    };
    let guest: GuestId = guest.parse().map_err(|_| corrupt())?;
    let seq: u64 = seq.parse().map_err(|_| corrupt())?;
    let since: i64 = since.parse().map_err(|_| corrupt())?;
    let list: Vec<String> = serde_json::from_str(interests).unwrap_or_default();
    let interests = Interests::parse(list).map_err(|_| corrupt())?;
    let waiter = Waiter {
        guest,
        interests,
        waiting_since: Timestamp::from_unix_millis(since),
    };
    Ok((waiter, seq))
}

/// Builds a pairing from two ticket field groups, the longer-waiting one as initiator.
fn pairing(a: &[String], b: &[String]) -> Result<Pairing, QueueError> {
    let (a, a_seq) = waiter(a)?;
    let (b, b_seq) = waiter(b)?;
    let (initiator, responder) = if a_seq < b_seq { (a, b) } else { (b, a) };
    let common_interests = initiator.interests.common_with(&responder.interests);
    Ok(Pairing {
        initiator,
        responder,
        common_interests,
    })
}

/// Interests as the JSON array the scripts store. An empty list is written as `[]` by hand:
/// Lua's cjson cannot tell an empty array from an empty object.
fn interests_json(interests: &Interests) -> Result<String, QueueError> {
    serde_json::to_string(interests.as_slice()).map_err(|e| QueueError::Corrupt(e.to_string()))
}

#[async_trait]
impl MatchQueue for RedisQueue {
    fn config(&self) -> &MatchConfig {
        &self.config
    }

    fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    async fn enqueue(&self, ticket: Ticket) -> Result<Enqueued, QueueError> {
        let mut args = self.common_args(self.clock.now());
        args.push(ticket.guest.to_string());
        args.push(
            ticket
                .last_partner
                .map(|g| g.to_string())
                .unwrap_or_default(),
        );
        args.push(interests_json(&ticket.interests)?);
        let reply = self.run(&self.scripts.enqueue, args).await?;
        match reply.first().map(String::as_str) {
            Some("waiting") => Ok(Enqueued::Waiting),
            Some("already") => Ok(Enqueued::AlreadyWaiting),
            Some("paired") if reply.len() == 9 => {
                Ok(Enqueued::Paired(pairing(&reply[1..5], &reply[5..9])?))
            }
            _ => Err(QueueError::Corrupt(format!("enqueue answered {reply:?}"))),
        }
    }

    async fn cancel(&self, guest: &GuestId) -> Result<bool, QueueError> {
        let mut args = self.common_args(self.clock.now());
        args.push(guest.to_string());
        let reply = self.run(&self.scripts.cancel, args).await?;
        Ok(reply.first().is_some_and(|r| r == "1"))
    }

    async fn is_waiting(&self, guest: &GuestId) -> Result<bool, QueueError> {
        let key = format!("{}t:{guest}", self.prefix);
        let exists: i64 = self.client.exists(key).await.map_err(backend)?;
        Ok(exists == 1)
    }

    async fn refresh(&self, guests: &[GuestId]) -> Result<(), QueueError> {
        if guests.is_empty() {
            return Ok(());
        }
        let mut args = self.common_args(self.clock.now());
        args.extend(guests.iter().map(GuestId::to_string));
        self.run(&self.scripts.refresh, args).await.map(drop)
    }

    async fn waiting_count(&self) -> Result<u64, QueueError> {
        // Every ticket is either still in its interest wait (`due`) or past it (`exp`).
        let (fresh, settled): (i64, i64) = tokio::try_join!(
            self.client.zcard::<i64, _>(format!("{}due", self.prefix)),
            self.client.zcard::<i64, _>(format!("{}exp", self.prefix)),
        )
        .map_err(backend)?;
        Ok(u64::try_from(fresh + settled).unwrap_or(0))
    }

    async fn run_due(&self, limit: usize) -> Result<DueWork, QueueError> {
        let mut args = self.common_args(self.clock.now());
        args.push(limit.to_string());
        let reply = self.run(&self.scripts.run_due, args).await?;
        // "P" + 8 fields per pairing, "E" + guest id per expired ticket.
        let mut work = DueWork::default();
        let mut rest = reply.as_slice();
        while let Some((tag, tail)) = rest.split_first() {
            match tag.as_str() {
                "P" if tail.len() >= 8 => {
                    work.pairings.push(pairing(&tail[..4], &tail[4..8])?);
                    rest = &tail[8..];
                }
                "E" if !tail.is_empty() => {
                    let guest = tail[0]
                        .parse()
                        .map_err(|_| QueueError::Corrupt(format!("expired {:?}", tail[0])))?;
                    work.expired.push(guest);
                    rest = &tail[1..];
                }
                _ => return Err(QueueError::Corrupt(format!("run_due answered {reply:?}"))),
            }
        }
        Ok(work)
    }
}

/// The Lua side. ARGV always starts with prefix, now (ms), interest wait (ms), ticket TTL (ms).
///
/// Layout: `t:<gid>` hash per ticket (seq, since, last, ints, exp, phase, member), with a TTL;
/// lines `i:<interest>`, `open` and `settled` are sorted sets of members `<gid>|<last partner>`
/// scored by wait order, so a scan needs no lookup to apply the recent-partner rule; `due`
/// (waits ending) and `exp` (tickets expiring) score guest ids by deadline, and every ticket is
/// in exactly one of them, so their sizes add up to the number waiting. `seq`, one integer, is
/// the only key that never expires: wait order must survive idle periods. Sorted sets carry no TTL:
/// Redis deletes them when they empty, and an entry whose ticket vanished is cleaned up by the
/// first script that meets it. Every redis.call costs about a microsecond, so the scripts make
/// as few as they can.
mod lua {
    /// Shared functions: reading and removing tickets, and finding a partner.
    pub(super) const HELPERS: &str = r#"
local P, NOW, WAIT, TTL = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
-- Ticket hashes outlive their TTL a little, so the node that expires them can still read them.
local SLACK = 60000

-- Removes a ticket everywhere; returns {gid, seq, since, interests-json} or nil.
local function take(gid)
  local t = P .. 't:' .. gid
  local f = redis.call('HMGET', t, 'seq', 'since', 'ints', 'phase', 'member')
  if not f[1] then return nil end
  redis.call('DEL', t)
  local interests = cjson.decode(f[3])
  local member = f[5]
  for _, interest in ipairs(interests) do
    redis.call('ZREM', P .. 'i:' .. interest, member)
  end
  if f[4] == 'fresh' then
    redis.call('ZREM', P .. 'due', gid)
  else
    redis.call('ZREM', P .. 'exp', gid)
  end
  if #interests == 0 then
    redis.call('ZREM', P .. 'open', member)
  elseif f[4] == 'settled' then
    redis.call('ZREM', P .. 'settled', member)
  end
  return { gid, f[1], f[2], f[3] }
end

-- The oldest member of a line that `me` may pair with, and the oldest recent partner in it,
-- each as {gid, seq, member, line}.
local function scan(key, me, last)
  local best, recent = nil, nil
  local items = redis.call('ZRANGE', key, 0, 15, 'WITHSCORES')
  for k = 1, #items, 2 do
    local member = items[k]
    local bar = string.find(member, '|', 1, true)
    local g, glast = string.sub(member, 1, bar - 1), string.sub(member, bar + 1)
    if g ~= me then
      local entry = { g, tonumber(items[k + 1]), member, key }
      if g == last or glast == me then
        if not recent then recent = entry end
      else
        best = entry
        break
      end
    end
  end
  return best, recent
end

local function older(a, b)
  if not a then return b end
  if not b then return a end
  if b[2] < a[2] then return b end
  return a
end

-- Interest sharers first; the random lines when `settled`; a recent partner last, once both
-- have waited the interest wait.
local function find(me, last, interests, settled, since)
  local best, recent = nil, nil
  local lines = {}
  for _, interest in ipairs(interests) do table.insert(lines, P .. 'i:' .. interest) end
  -- One EXISTS over all of them spares a scan per interest when nobody shares any.
  if #lines > 0 and redis.call('EXISTS', unpack(lines)) > 0 then
    for _, line in ipairs(lines) do
      local b, r = scan(line, me, last)
      best, recent = older(best, b), older(recent, r)
    end
  end
  if not best and settled then
    for _, line in ipairs({ 'open', 'settled' }) do
      local b, r = scan(P .. line, me, last)
      best, recent = older(best, b), older(recent, r)
    end
  end
  if best then return best end
  if not recent then return nil end
  local other_since = tonumber(redis.call('HGET', P .. 't:' .. recent[1], 'since'))
  if other_since and since + WAIT <= NOW and other_since + WAIT <= NOW then return recent end
  return nil
end

-- Finds a partner and takes it out of the queue; an entry whose ticket vanished is removed from
-- its line and the search goes on.
local function take_partner(me, last, interests, settled, since)
  for _ = 1, 8 do
    local found = find(me, last, interests, settled, since)
    if not found then return nil end
    local other = take(found[1])
    if other then return other end
    redis.call('ZREM', found[4], found[3])
  end
  return nil
end
"#;

    /// ARGV[5..]: gid, last partner or "", interests json.
    pub(super) const ENQUEUE: &str = r#"
local me, last, ints_json = ARGV[5], ARGV[6], ARGV[7]
local t = P .. 't:' .. me
if redis.call('EXISTS', t) == 1 then return { 'already' } end
local interests = cjson.decode(ints_json)
local settled = (#interests == 0) or WAIT == 0
local other = take_partner(me, last, interests, settled, NOW)
if other then
  -- The newcomer waited least; a sequence number just above its partner's says so without
  -- spending an INCR.
  local mine = tostring(tonumber(other[2]) + 1)
  return { 'paired', other[1], other[2], other[3], other[4], me, mine, tostring(NOW), ints_json }
end
local seq = redis.call('INCR', P .. 'seq')
local member = me .. '|' .. last
for _, interest in ipairs(interests) do
  redis.call('ZADD', P .. 'i:' .. interest, seq, member)
end
local phase = 'fresh'
if #interests == 0 then
  redis.call('ZADD', P .. 'open', seq, member)
elseif settled then
  phase = 'settled'
  redis.call('ZADD', P .. 'settled', seq, member)
end
if phase == 'fresh' then
  redis.call('ZADD', P .. 'due', NOW + WAIT, me)
else
  redis.call('ZADD', P .. 'exp', NOW + TTL, me)
end
redis.call('HSET', t, 'seq', seq, 'since', NOW, 'last', last, 'ints', ints_json, 'exp', NOW + TTL,
  'phase', phase, 'member', member)
redis.call('PEXPIRE', t, TTL + SLACK)
return { 'waiting' }
"#;

    /// ARGV[5]: gid.
    pub(super) const CANCEL: &str = r#"
if take(ARGV[5]) then return { '1' } end
return { '0' }
"#;

    /// ARGV[5..]: gids.
    pub(super) const REFRESH: &str = r#"
for k = 5, #ARGV do
  local t = P .. 't:' .. ARGV[k]
  if redis.call('EXISTS', t) == 1 then
    redis.call('HSET', t, 'exp', NOW + TTL)
    redis.call('PEXPIRE', t, TTL + SLACK)
  end
end
return {}
"#;

    /// ARGV[5]: limit. Returns "P" + two tickets' fields per pairing, "E" + gid per expiry.
    pub(super) const RUN_DUE: &str = r#"
local limit = tonumber(ARGV[5])
local out = {}
local handled = 0
local due = redis.call('ZRANGEBYSCORE', P .. 'due', '-inf', NOW, 'LIMIT', 0, limit)
-- Waits that end at the same millisecond are handled in wait order, as sorted-set ties would
-- otherwise go by member name.
local order = {}
for _, g in ipairs(due) do
  order[g] = tonumber(redis.call('HGET', P .. 't:' .. g, 'seq')) or 0
end
table.sort(due, function(a, b) return order[a] < order[b] end)
for _, g in ipairs(due) do
  handled = handled + 1
  redis.call('ZREM', P .. 'due', g)
  local t = P .. 't:' .. g
  local f = redis.call('HMGET', t, 'seq', 'since', 'last', 'ints', 'exp', 'member')
  if f[1] then
    local interests = cjson.decode(f[4])
    redis.call('HSET', t, 'phase', 'settled')
    if #interests > 0 then
      redis.call('ZADD', P .. 'settled', f[1], f[6])
    end
    redis.call('ZADD', P .. 'exp', f[5], g)
    local other = take_partner(g, f[3], interests, true, tonumber(f[2]))
    if other then
      local mine = take(g)
      if mine then
        table.insert(out, 'P')
        for _, v in ipairs(mine) do table.insert(out, v) end
        for _, v in ipairs(other) do table.insert(out, v) end
      end
    end
  end
end
if handled < limit then
  local expiring = redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', NOW, 'LIMIT', 0, limit - handled)
  for _, g in ipairs(expiring) do
    local exp = tonumber(redis.call('HGET', P .. 't:' .. g, 'exp'))
    if exp and exp > NOW then
      redis.call('ZADD', P .. 'exp', exp, g)
    else
      if not take(g) then redis.call('ZREM', P .. 'exp', g) end
      table.insert(out, 'E')
      table.insert(out, g)
    end
  end
end
return out
"#;
}
