//! `RedisQueue`: the match queue shared by every node of a cluster (feature `redis`).
//!
//! The state is a few sorted sets scored by wait order (one per interest, two for random pairing)
//! or by deadline (waits ending, tickets expiring), plus one string per ticket. It changes only
//! inside Lua scripts, so two nodes can never pair the same guest twice, and finding a partner
//! reads the front of a few sorted sets instead of scanning the queue.
//!
//! Enqueues are gathered into batches: while a script call is in flight, the enqueues that arrive
//! wait for the next call, which carries all of them. Redis runs a batch as it would run the same
//! enqueues one by one, and a busy node pays Redis's per-call cost (parsing, starting the script,
//! a network round trip) once per batch instead of once per guest.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use duet_core::{Clock, GuestId, SystemClock, Timestamp};
use fred::prelude::{Client, KeysInterface, SortedSetsInterface};
use fred::types::scripts::Script;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::error::QueueError;
use crate::interests::Interests;
use crate::model::{DueWork, Enqueued, MatchConfig, Pairing, Ticket, Waiter};
use crate::queue::MatchQueue;

/// The most enqueues one script call carries: a batch keeps Redis busy for well under a
/// millisecond, so other clients' commands are not held up.
const MAX_BATCH: usize = 64;

/// Batches sent before the first one's answer is back: two keep Redis working while an answer
/// travels back and the next batch gathers.
const BATCHES_IN_FLIGHT: usize = 4;

/// How long a ticket's key outlives the ticket's expiry (see [`Core::common_args`]).
const TICKET_KEY_SLACK_MS: i64 = 60_000;

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
///
/// Use it inside a Tokio runtime (as fred requires): the first enqueue starts the task that sends
/// enqueue batches, and that task ends when the last clone of the queue is dropped.
#[derive(Clone)]
pub struct RedisQueue {
    core: Arc<Core>,
    /// Where enqueues wait for the next batch; the sending task starts with the first enqueue.
    enqueues: Arc<OnceLock<mpsc::UnboundedSender<PendingEnqueue>>>,
}

/// What every call needs; the batching task holds this and not the queue itself, so dropping
/// the last queue closes the channel and ends the task.
struct Core {
    client: Client,
    prefix: Arc<str>,
    config: MatchConfig,
    clock: Arc<dyn Clock>,
    scripts: Scripts,
}

struct Scripts {
    enqueue: Script,
    cancel: Script,
    refresh: Script,
    run_due: Script,
}

/// One enqueue waiting for its batch: the script's three arguments and where the answer goes.
struct PendingEnqueue {
    args: [String; 3],
    answer: oneshot::Sender<Result<Enqueued, QueueError>>,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("key_prefix", &self.core.prefix)
            .field("config", &self.core.config)
            .finish_non_exhaustive()
    }
}

fn backend(error: fred::error::Error) -> QueueError {
    QueueError::Backend(Box::new(error))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
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
        let core = Core {
            client,
            prefix: redis.key_prefix.into(),
            config,
            clock,
            scripts: Scripts {
                enqueue: script(lua::ENQUEUE),
                cancel: script(lua::CANCEL),
                refresh: script(lua::REFRESH),
                run_due: script(lua::RUN_DUE),
            },
        };
        Self {
            core: Arc::new(core),
            enqueues: Arc::new(OnceLock::new()),
        }
    }

    /// The channel to the batching task, starting the task on first use.
    fn enqueue_channel(&self) -> &mpsc::UnboundedSender<PendingEnqueue> {
        self.enqueues.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(send_enqueue_batches(Arc::clone(&self.core), receiver));
            sender
        })
    }
}

impl Core {
    /// Arguments every script starts with: key prefix, now, the interest wait, when a wait
    /// starting now ends, when a ticket written now expires, and the lifetime of its key (all in
    /// milliseconds). The sums are made here: numbers Lua turns into text go through `printf`,
    /// which was a tenth of Redis's time per pair.
    fn common_args(&self, now: Timestamp) -> Vec<String> {
        let now = now.unix_millis();
        let wait = millis(self.config.interest_wait);
        let ttl = millis(self.config.effective_ticket_ttl());
        vec![
            self.prefix.to_string(),
            now.to_string(),
            wait.to_string(),
            now.saturating_add(wait).to_string(),
            now.saturating_add(ttl).to_string(),
            // Ticket keys outlive their expiry a little, so the node that expires them can
            // still read them.
            ttl.saturating_add(TICKET_KEY_SLACK_MS).to_string(),
        ]
    }

    /// The one key every script declares: on Redis Cluster the client sends a script to the
    /// node owning its declared keys, and with a hash-tagged prefix (`{duet}:`) every key the
    /// scripts compute lives in the same slot.
    fn routing_keys(&self) -> Vec<String> {
        vec![format!("{}seq", self.prefix)]
    }

    /// Runs `script`, loading it first where Redis does not know it yet.
    async fn call(
        &self,
        script: &Script,
        args: Vec<String>,
    ) -> Result<Vec<String>, fred::error::Error> {
        script
            .evalsha_with_reload(&self.client, self.routing_keys(), args)
            .await
    }

    async fn run(&self, script: &Script, args: Vec<String>) -> Result<Vec<String>, QueueError> {
        self.call(script, args).await.map_err(backend)
    }

    /// Runs one batch of enqueues in one script call and answers each of them.
    async fn enqueue_batch(&self, batch: Vec<PendingEnqueue>) {
        let mut args = self.common_args(self.clock.now());
        args.reserve(batch.len() * 3);
        for pending in &batch {
            args.extend(pending.args.iter().cloned());
        }
        // The raw error, not a `QueueError`: every enqueue of the batch gets a copy.
        match self.call(&self.scripts.enqueue, args).await {
            Ok(reply) => {
                let mut rest = reply.as_slice();
                for pending in batch {
                    let answer = next_enqueue_answer(&mut rest)
                        .ok_or_else(|| QueueError::Corrupt(format!("enqueue answered {reply:?}")));
                    // A caller that stopped waiting cannot be told; what the script did stands,
                    // as when the answer to a call of its own is dropped.
                    let _ = pending.answer.send(answer.and_then(|a| a));
                }
            }
            Err(error) => {
                for pending in batch {
                    let _ = pending
                        .answer
                        .send(Err(QueueError::Backend(Box::new(error.clone()))));
                }
            }
        }
    }
}

/// Sends enqueues in batches until every queue handle is gone. A batch is gathered only once a
/// slot is free, so the enqueues that arrive while the slots are busy travel together.
async fn send_enqueue_batches(
    core: Arc<Core>,
    mut pending: mpsc::UnboundedReceiver<PendingEnqueue>,
) {
    let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let mut batch = Vec::with_capacity(MAX_BATCH);
        if pending.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let core = Arc::clone(&core);
        tokio::spawn(async move {
            core.enqueue_batch(batch).await;
            drop(slot);
        });
    }
}

/// Reads one ticket's answer off the front of an enqueue reply: `waiting`, `already`, `paired`
/// and the two tickets' fields, or `error` and Redis's message. `None` when the reply ends early
/// or has an unknown tag; `Some(Err)` when the script failed for this ticket or a paired ticket
/// cannot be read.
fn next_enqueue_answer(rest: &mut &[String]) -> Option<Result<Enqueued, QueueError>> {
    let (tag, tail) = rest.split_first()?;
    let answer = match tag.as_str() {
        "waiting" => {
            *rest = tail;
            Ok(Enqueued::Waiting)
        }
        "already" => {
            *rest = tail;
            Ok(Enqueued::AlreadyWaiting)
        }
        "paired" if tail.len() >= 8 => {
            *rest = &tail[8..];
            pairing(&tail[..4], &tail[4..8]).map(Enqueued::Paired)
        }
        "error" => {
            let (message, tail) = tail.split_first()?;
            *rest = tail;
            Err(QueueError::Backend(
                format!("the enqueue script failed: {message}").into(),
            ))
        }
        _ => return None,
    };
    Some(answer)
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
        &self.core.config
    }

    fn clock(&self) -> &Arc<dyn Clock> {
        &self.core.clock
    }

    async fn enqueue(&self, ticket: Ticket) -> Result<Enqueued, QueueError> {
        let args = [
            ticket.guest.to_string(),
            ticket
                .last_partner
                .map(|g| g.to_string())
                .unwrap_or_default(),
            interests_json(&ticket.interests)?,
        ];
        let (answer, answered) = oneshot::channel();
        // Only when the runtime that ran the first enqueue has shut down.
        let stopped = || QueueError::Backend("the enqueue batching task has stopped".into());
        self.enqueue_channel()
            .send(PendingEnqueue { args, answer })
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }

    async fn cancel(&self, guest: &GuestId) -> Result<bool, QueueError> {
        let mut args = self.core.common_args(self.core.clock.now());
        args.push(guest.to_string());
        let reply = self.core.run(&self.core.scripts.cancel, args).await?;
        Ok(reply.first().is_some_and(|r| r == "1"))
    }

    async fn is_waiting(&self, guest: &GuestId) -> Result<bool, QueueError> {
        let key = format!("{}t:{guest}", self.core.prefix);
        let exists: i64 = self.core.client.exists(key).await.map_err(backend)?;
        Ok(exists == 1)
    }

    async fn refresh(&self, guests: &[GuestId]) -> Result<(), QueueError> {
        if guests.is_empty() {
            return Ok(());
        }
        let mut args = self.core.common_args(self.core.clock.now());
        args.extend(guests.iter().map(GuestId::to_string));
        self.core
            .run(&self.core.scripts.refresh, args)
            .await
            .map(drop)
    }

    async fn waiting_count(&self) -> Result<u64, QueueError> {
        // Every ticket is either still in its interest wait (`due`) or past it (`exp`).
        let (fresh, settled): (i64, i64) = tokio::try_join!(
            self.core
                .client
                .zcard::<i64, _>(format!("{}due", self.core.prefix)),
            self.core
                .client
                .zcard::<i64, _>(format!("{}exp", self.core.prefix)),
        )
        .map_err(backend)?;
        Ok(u64::try_from(fresh + settled).unwrap_or(0))
    }

    async fn run_due(&self, limit: usize) -> Result<DueWork, QueueError> {
        let mut args = self.core.common_args(self.core.clock.now());
        args.push(limit.to_string());
        let reply = self.core.run(&self.core.scripts.run_due, args).await?;
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

/// The Lua side. ARGV always starts with the six [`Core::common_args`].
///
/// Layout: `t:<gid>` is a string per ticket, `seq|since|expires|phase|last partner|interests
/// json`, with a TTL (one `SET … PX` to write, one `GETDEL` to take: a hash needed four calls);
/// lines `i:<interest>`, `open` and `settled` are sorted sets scored by wait order, of members
/// `<gid>|<last partner>|<seq>`, so a scan reads members only (no scores to format and parse)
/// and applies the recent-partner rule without a lookup; `due` (waits ending) and `exp`
/// (tickets expiring) score guest ids by deadline, and every ticket is in exactly one of them,
/// so their sizes add up to the number waiting. `seq`, one integer, is the only key that never
/// expires: wait order must survive idle periods. Sorted sets carry no TTL: Redis deletes them
/// when they empty, and an entry whose ticket vanished is cleaned up by the first script that
/// meets it. Every redis.call costs about a microsecond, so the scripts make as few as they can
/// (docs/benchmarks.md has the measurements).
mod lua {
    /// Shared functions: reading and removing tickets, and finding a partner.
    pub(super) const HELPERS: &str = r#"
local P, NOW_TEXT, WAIT_END, EXPIRES, TICKET_PX = ARGV[1], ARGV[2], ARGV[4], ARGV[5], ARGV[6]
local NOW, WAIT = tonumber(NOW_TEXT), tonumber(ARGV[3])

local function ticket_key(gid) return P .. 't:' .. gid end

local function ticket_text(seq, since, expires, phase, last, ints_json)
  return table.concat({ seq, since, expires, phase, last, ints_json }, '|')
end

-- A ticket's fields, or nil when the text is missing (or not one of ours).
local function parse_ticket(text)
  if not text then return nil end
  local seq, since, expires, phase, last, ints_json =
    string.match(text, '^(%d+)|(%-?%d+)|(%-?%d+)|(%a+)|([^|]*)|(.*)$')
  if not seq then return nil end
  return { seq = seq, since = since, expires = expires, phase = phase,
           last = last, ints = ints_json }
end

local function read_ticket(gid)
  return parse_ticket(redis.call('GET', ticket_key(gid)))
end

-- Removes a ticket everywhere; returns {gid, seq, since, interests-json} or nil.
local function take(gid)
  local t = parse_ticket(redis.call('GETDEL', ticket_key(gid)))
  if not t then return nil end
  local interests = cjson.decode(t.ints)
  local member = gid .. '|' .. t.last .. '|' .. t.seq
  for _, interest in ipairs(interests) do
    redis.call('ZREM', P .. 'i:' .. interest, member)
  end
  if t.phase == 'fresh' then
    redis.call('ZREM', P .. 'due', gid)
  else
    redis.call('ZREM', P .. 'exp', gid)
  end
  if #interests == 0 then
    redis.call('ZREM', P .. 'open', member)
  elseif t.phase == 'settled' then
    redis.call('ZREM', P .. 'settled', member)
  end
  return { gid, t.seq, t.since, t.ints }
end

-- Reads a line from its head: one entry first, as the head is nearly always eligible, and the
-- next fifteen only when it is not (a longer range costs several times more). Bounds are text:
-- a Lua number passed to redis.call is formatted with printf, which costs more than the call.
local SCAN_RANGES = { { '0', '0', 1 }, { '1', '15', 15 } }

-- The oldest member of a line that `me` may pair with, and the oldest recent partner in it,
-- each as {gid, seq, member, line}. Members are `<gid>|<last partner>|<seq>`.
local function scan(key, me, last)
  local recent = nil
  for _, range in ipairs(SCAN_RANGES) do
    local items = redis.call('ZRANGE', key, range[1], range[2])
    for _, member in ipairs(items) do
      local g, glast, seq = string.match(member, '^([^|]*)|([^|]*)|(%d+)$')
      if g and g ~= me then
        local entry = { g, tonumber(seq), member, key }
        if g == last or glast == me then
          if not recent then recent = entry end
        else
          return entry, recent
        end
      end
    end
    if #items < range[3] then break end
  end
  return nil, recent
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
  local other = read_ticket(recent[1])
  if other and since + WAIT <= NOW and tonumber(other.since) + WAIT <= NOW then return recent end
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

    /// ARGV[7..]: a batch of enqueues, three arguments each: gid, last partner or "", interests
    /// json. Answers each in order: `waiting`, `already`, `paired` and both tickets' fields, or
    /// `error` and a message.
    pub(super) const ENQUEUE: &str = r#"
local function enqueue(me, last, ints_json)
  local t = ticket_key(me)
  if redis.call('EXISTS', t) == 1 then return { 'already' } end
  local interests = cjson.decode(ints_json)
  local settled = (#interests == 0) or WAIT == 0
  local other = take_partner(me, last, interests, settled, NOW)
  if other then
    -- The newcomer waited least; a sequence number just above its partner's says so without
    -- spending an INCR.
    local mine = tostring(tonumber(other[2]) + 1)
    return { 'paired', other[1], other[2], other[3], other[4], me, mine, NOW_TEXT, ints_json }
  end
  local seq = tostring(redis.call('INCR', P .. 'seq'))
  local member = me .. '|' .. last .. '|' .. seq
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
    redis.call('ZADD', P .. 'due', WAIT_END, me)
  else
    redis.call('ZADD', P .. 'exp', EXPIRES, me)
  end
  redis.call('SET', t, ticket_text(seq, NOW_TEXT, EXPIRES, phase, last, ints_json), 'PX', TICKET_PX)
  return { 'waiting' }
end

-- A failing enqueue answers `error` and a message, and the batch goes on: an error thrown out
-- of the script would lose the answers of the enqueues before it, whose effects stay.
local out = {}
for k = 7, #ARGV, 3 do
  local ok, answer = pcall(enqueue, ARGV[k], ARGV[k + 1], ARGV[k + 2])
  if not ok then
    local message = type(answer) == 'table' and answer.err or tostring(answer)
    answer = { 'error', message }
  end
  for _, v in ipairs(answer) do table.insert(out, v) end
end
return out
"#;

    /// ARGV[7]: gid.
    pub(super) const CANCEL: &str = r#"
if take(ARGV[7]) then return { '1' } end
return { '0' }
"#;

    /// ARGV[7..]: gids.
    pub(super) const REFRESH: &str = r#"
for k = 7, #ARGV do
  local g = ARGV[k]
  local t = read_ticket(g)
  if t then
    redis.call('SET', ticket_key(g), ticket_text(t.seq, t.since, EXPIRES, t.phase, t.last, t.ints),
      'PX', TICKET_PX)
  end
end
return {}
"#;

    /// ARGV[7]: limit. Returns "P" + two tickets' fields per pairing, "E" + gid per expiry.
    pub(super) const RUN_DUE: &str = r#"
local limit = tonumber(ARGV[7])
local out = {}
local handled = 0
local due = redis.call('ZRANGEBYSCORE', P .. 'due', '-inf', NOW_TEXT, 'LIMIT', 0, limit)
-- Waits that end at the same millisecond are handled in wait order, as sorted-set ties would
-- otherwise go by member name.
local order = {}
for _, g in ipairs(due) do
  local t = read_ticket(g)
  order[g] = t and tonumber(t.seq) or 0
end
table.sort(due, function(a, b) return order[a] < order[b] end)
for _, g in ipairs(due) do
  handled = handled + 1
  redis.call('ZREM', P .. 'due', g)
  -- Read again: pairing an earlier guest of this batch may have taken this one.
  local t = read_ticket(g)
  if t then
    local interests = cjson.decode(t.ints)
    redis.call('SET', ticket_key(g), ticket_text(t.seq, t.since, t.expires, 'settled', t.last, t.ints),
      'KEEPTTL')
    if #interests > 0 then
      redis.call('ZADD', P .. 'settled', t.seq, g .. '|' .. t.last .. '|' .. t.seq)
    end
    redis.call('ZADD', P .. 'exp', t.expires, g)
    local other = take_partner(g, t.last, interests, true, tonumber(t.since))
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
  local expiring = redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', NOW_TEXT, 'LIMIT', 0, limit - handled)
  for _, g in ipairs(expiring) do
    local t = read_ticket(g)
    if t and tonumber(t.expires) > NOW then
      redis.call('ZADD', P .. 'exp', t.expires, g)
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
