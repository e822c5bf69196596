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
use fred::prelude::{Client, ClientLike, KeysInterface, SortedSetsInterface};
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

/// The queue's key layout, written here and nowhere else; the scripts get the fixed keys in
/// `KEYS` and the two key families as prefixes.
///
/// `t:<gid>` is a string per ticket, `seq|since|expires|phase|last partner|interests json`,
/// with a TTL (one `SET … PX` to write, one `GETDEL` to take: a hash needed four calls). Lines
/// `i:<interest>`, `open` and `settled` are sorted sets scored by wait order, of members
/// `<gid>|<last partner>|<seq>`, so a scan reads members only (no scores to format and parse)
/// and applies the recent-partner rule without a lookup; `due` (waits ending) and `exp`
/// (tickets expiring) score guest ids by deadline, and every ticket is in exactly one of them,
/// so their sizes add up to the number waiting. `seq`, one integer, is the only key that never
/// expires: wait order must survive idle periods. Sorted sets carry no TTL: Redis deletes them
/// when they empty, and an entry whose ticket vanished is cleaned up by the first script that
/// meets it.
///
/// Which tickets and interest lines a script touches is only known as it scans, so those keys
/// cannot be declared before the call without giving up the atomic find-and-take. On Redis
/// Cluster the prefix must therefore carry a hash tag (`{duet}:`), which puts every key of the
/// queue in the slot of the declared ones; [`RedisQueue::new`] refuses a prefix without one.
#[derive(Debug)]
struct Keys {
    prefix: String,
}

impl Keys {
    fn named(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The fixed keys, in the order the scripts read them: seq, due, exp, open, settled.
    fn fixed(&self) -> Vec<String> {
        ["seq", "due", "exp", "open", "settled"]
            .into_iter()
            .map(|name| self.named(name))
            .collect()
    }

    fn due(&self) -> String {
        self.named("due")
    }

    fn expiring(&self) -> String {
        self.named("exp")
    }

    fn ticket_prefix(&self) -> String {
        self.named("t:")
    }

    fn interest_prefix(&self) -> String {
        self.named("i:")
    }

    fn ticket(&self, guest: &GuestId) -> String {
        format!("{}{guest}", self.ticket_prefix())
    }

    fn apart_prefix(&self) -> String {
        self.named("apart:")
    }

    fn apart(&self, guest: &GuestId) -> String {
        format!("{}{guest}", self.apart_prefix())
    }
}

/// Whether `prefix` has a Redis Cluster hash tag: a `{`, then at least one character, then `}`.
fn has_hash_tag(prefix: &str) -> bool {
    prefix
        .find('{')
        .and_then(|open| prefix[open + 1..].find('}'))
        .is_some_and(|length| length > 0)
}

/// Settings of a [`RedisQueue`] beyond the pairing policy.
#[derive(Debug, Clone)]
pub struct RedisQueueConfig {
    /// Prepended to every key (default `duet:mq:`); on Redis Cluster it must carry a hash tag
    /// (`{duet}:mq:`).
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
    keys: Keys,
    config: MatchConfig,
    clock: Arc<dyn Clock>,
    scripts: Scripts,
}

struct Scripts {
    enqueue: Script,
    cancel: Script,
    refresh: Script,
    run_due: Script,
    keep_apart: Script,
    extend_apart: Script,
}

/// One enqueue waiting for its batch: the script's three arguments and where the answer goes.
struct PendingEnqueue {
    args: [String; 3],
    answer: oneshot::Sender<Result<Enqueued, QueueError>>,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("key_prefix", &self.core.keys.prefix)
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
    /// A queue on `client` (RESP3, connected) with the pairing `config`. Refused on Redis
    /// Cluster when the key prefix has no hash tag (see the key layout in the crate's source).
    pub fn new(
        client: Client,
        config: MatchConfig,
        redis: RedisQueueConfig,
    ) -> Result<Self, QueueError> {
        Self::with_clock(client, config, redis, Arc::new(SystemClock))
    }

    /// Like [`RedisQueue::new`], measuring waits with `clock` (every node must use the same
    /// notion of time; in production, the system clock synchronised by NTP).
    pub fn with_clock(
        client: Client,
        config: MatchConfig,
        redis: RedisQueueConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, QueueError> {
        if client.is_clustered() && !has_hash_tag(&redis.key_prefix) {
            return Err(QueueError::Config(format!(
                "on Redis Cluster the key prefix {:?} needs a hash tag such as {{duet}}:mq:",
                redis.key_prefix
            )));
        }
        let helpers = include_str!("../lua/helpers.lua");
        let script = |body: &str| Script::from_lua(format!("{helpers}\n{body}"));
        let core = Core {
            client,
            keys: Keys {
                prefix: redis.key_prefix,
            },
            config,
            clock,
            scripts: Scripts {
                enqueue: script(include_str!("../lua/enqueue.lua")),
                cancel: script(include_str!("../lua/cancel.lua")),
                refresh: script(include_str!("../lua/refresh.lua")),
                run_due: script(include_str!("../lua/run_due.lua")),
                keep_apart: script(include_str!("../lua/keep_apart.lua")),
                extend_apart: script(include_str!("../lua/extend_apart.lua")),
            },
        };
        Ok(Self {
            core: Arc::new(core),
            enqueues: Arc::new(OnceLock::new()),
        })
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
    /// Arguments every script starts with: the ticket key prefix, the interest line prefix, now,
    /// the interest wait, when a wait starting now ends, when a ticket written now expires, the
    /// lifetime of its key (all in milliseconds), and the prefix of the apart sets. The sums are made here: numbers Lua turns
    /// into text go through `printf`, which was a tenth of Redis's time per pair.
    fn common_args(&self, now: Timestamp) -> Vec<String> {
        let now = now.unix_millis();
        let wait = millis(self.config.interest_wait);
        let ttl = millis(self.config.effective_ticket_ttl());
        vec![
            self.keys.ticket_prefix(),
            self.keys.interest_prefix(),
            now.to_string(),
            wait.to_string(),
            now.saturating_add(wait).to_string(),
            now.saturating_add(ttl).to_string(),
            // Ticket keys outlive their expiry a little, so the node that expires them can
            // still read them.
            ttl.saturating_add(TICKET_KEY_SLACK_MS).to_string(),
            self.keys.apart_prefix(),
        ]
    }

    /// Runs `script`, loading it first where Redis does not know it yet.
    async fn call(
        &self,
        script: &Script,
        args: Vec<String>,
    ) -> Result<Vec<String>, fred::error::Error> {
        script
            .evalsha_with_reload(&self.client, self.keys.fixed(), args)
            .await
    }

    async fn run(&self, script: &Script, args: Vec<String>) -> Result<Vec<String>, QueueError> {
        self.call(script, args).await.map_err(backend)
    }

    /// Runs a script on the apart sets `keys` (not the fixed keys) with the common arguments,
    /// then `extra`.
    async fn run_apart(
        &self,
        script: &Script,
        keys: Vec<String>,
        extra: [String; 3],
    ) -> Result<(), QueueError> {
        let mut args = self.common_args(self.clock.now());
        args.extend(extra);
        let _: i64 = script
            .evalsha_with_reload(&self.client, keys, args)
            .await
            .map_err(backend)?;
        Ok(())
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
        let key = self.core.keys.ticket(guest);
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
            self.core.client.zcard::<i64, _>(self.core.keys.due()),
            self.core.client.zcard::<i64, _>(self.core.keys.expiring()),
        )
        .map_err(backend)?;
        Ok(u64::try_from(fresh + settled).unwrap_or(0))
    }

    async fn keep_apart(
        &self,
        a: &GuestId,
        b: &GuestId,
        until: Timestamp,
    ) -> Result<(), QueueError> {
        let keys = vec![self.core.keys.apart(a), self.core.keys.apart(b)];
        let extra = [
            a.to_string(),
            b.to_string(),
            until.unix_millis().to_string(),
        ];
        self.core
            .run_apart(&self.core.scripts.keep_apart, keys, extra)
            .await
    }

    async fn extend_apart(&self, guest: &GuestId, until: Timestamp) -> Result<(), QueueError> {
        let keys = vec![self.core.keys.apart(guest)];
        // The third argument is unused; the shape is shared with keep_apart.
        let extra = [
            guest.to_string(),
            until.unix_millis().to_string(),
            String::new(),
        ];
        self.core
            .run_apart(&self.core.scripts.extend_apart, keys, extra)
            .await
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
