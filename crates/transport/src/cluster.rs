//! A cluster on Redis (feature `redis`): the presence store, the match queue and the Socket.IO
//! adapter on one Redis, connected together.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use duet_core::redis::fred::clients::SubscriberClient;
use duet_core::redis::fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use duet_matchmaker::{MatchConfig, MatchQueue, QueueError, RedisQueue, RedisQueueConfig};
use duet_presence_store::{RedisStore, RedisStoreConfig, StoreError, Stores};
use socketioxide_redis::drivers::fred::FredDriver;
use socketioxide_redis::{RedisAdapterConfig, RedisAdapterCtr};
use tokio::sync::broadcast::error::RecvError;

use crate::backoff::Backoff;

pub use socketioxide_redis::FredAdapter;

/// Messages from other nodes the subscriber buffers before the adapter reads them. fred's
/// default of 32 let a burst of cross-node messages overflow, and socketioxide-redis drops what
/// overflows; entries are small (one packet each), so a deep buffer costs little.
const SUBSCRIBER_CAPACITY: usize = 16 * 1024;

/// Subscribes the adapter's channels again after every reconnection of `subscriber` (a Redis
/// restart forgets them, and neither fred nor socketioxide-redis subscribes again by itself:
/// fred's `resubscribe_all` starts with a plain SUBSCRIBE, which Redis refuses without channels,
/// so it never reaches the sharded ones the adapter uses). Retries until it succeeds; the task
/// lives as long as the subscriber.
fn keep_subscriptions(subscriber: SubscriberClient) -> AdapterHealth {
    let health = AdapterHealth {
        subscriber: subscriber.clone(),
        subscribed: Arc::new(AtomicBool::new(true)),
        interruptions: Arc::new(AtomicU64::new(0)),
    };
    let subscribed = Arc::clone(&health.subscribed);
    let interruptions = Arc::clone(&health.interruptions);
    // Counted when the flag drops (not per error: a reconnection that keeps failing is one
    // interruption), and before the flag drops, so whoever sees it down sees the count too.
    let interrupted = move || {
        if subscribed.load(Ordering::Acquire) {
            interruptions.fetch_add(1, Ordering::AcqRel);
        }
        subscribed.store(false, Ordering::Release);
    };
    let subscribed = Arc::clone(&health.subscribed);
    tokio::spawn(async move {
        let mut errors = subscriber.error_rx();
        let mut reconnections = subscriber.reconnect_rx();
        // fred reports the client's first connection as a reconnection too: no interruption.
        let mut first_connection = true;
        loop {
            // fred reports a connection's end (or a failed reconnection) as an error, and only
            // then the reconnection: not receiving from the first until channels are back.
            // Biased, so that both arriving at once cannot leave the flag down after a
            // reconnection already handled.
            tokio::select! {
                biased;
                error = errors.recv() => match error {
                    Ok(_) | Err(RecvError::Lagged(_)) => interrupted(),
                    Err(RecvError::Closed) => return,
                },
                reconnection = reconnections.recv() => match reconnection {
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        if std::mem::take(&mut first_connection) {
                            subscribed.store(false, Ordering::Release);
                        } else {
                            interrupted();
                        }
                        resubscribe(&subscriber).await;
                        subscribed.store(true, Ordering::Release);
                    }
                    Err(RecvError::Closed) => return,
                },
            }
        }
    });
    health
}

/// Whether this node hears what the other nodes publish to its sockets: the adapter's
/// subscriber is connected, and its channels were subscribed again after its last
/// reconnection. Between a Redis restart and that moment the store may answer again while the
/// events other nodes send here (a `user:matched`, a relayed message) are lost on the way, so
/// `/ready` reports the node degraded until both hold, and the node catches its guests up
/// after each interruption ([`DuetBuilder::adapter_link`]).
///
/// [`DuetBuilder::adapter_link`]: crate::DuetBuilder::adapter_link
#[derive(Clone)]
pub struct AdapterHealth {
    subscriber: SubscriberClient,
    subscribed: Arc<AtomicBool>,
    interruptions: Arc<AtomicU64>,
}

impl AdapterHealth {
    /// Whether the adapter receives what other nodes publish.
    pub fn receiving(&self) -> bool {
        self.subscriber.is_connected() && self.subscribed.load(Ordering::Acquire)
    }

    /// How many times the adapter has stopped receiving (its subscriber's connection ended,
    /// or a reconnection began) since it connected.
    pub fn interruptions(&self) -> u64 {
        self.interruptions.load(Ordering::Acquire)
    }
}

impl crate::node::AdapterLink for AdapterHealth {
    fn receiving(&self) -> bool {
        AdapterHealth::receiving(self)
    }

    fn interruptions(&self) -> u64 {
        AdapterHealth::interruptions(self)
    }
}

impl std::fmt::Debug for AdapterHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdapterHealth")
            .field("receiving", &self.receiving())
            .field("interruptions", &self.interruptions())
            .finish()
    }
}

async fn resubscribe(subscriber: &SubscriberClient) {
    let mut backoff = Backoff::new();
    loop {
        let channels: Vec<String> = subscriber
            .tracked_shard_channels()
            .into_iter()
            .map(|channel| channel.to_string())
            .collect();
        if channels.is_empty() {
            return;
        }
        let count = channels.len();
        match subscriber.ssubscribe(channels).await {
            Ok(()) => {
                tracing::info!(
                    channels = count,
                    "cluster adapter subscribed again after a Redis reconnection"
                );
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot subscribe the cluster adapter again yet; retrying");
                tokio::time::sleep(backoff.next_wait()).await;
            }
        }
    }
}

/// What a node needs to join a cluster: give `stores` and `queue` to
/// [`Duet::builder`](crate::Duet::builder), and build the `SocketIo` with
/// `with_adapter::<FredAdapter<_>>(adapter)`.
pub struct Cluster {
    /// Sessions, presence and chats on Redis.
    pub stores: Stores,
    /// The match queue on Redis.
    pub queue: Arc<dyn MatchQueue>,
    /// The Socket.IO adapter's constructor.
    pub adapter: RedisAdapterCtr<FredDriver>,
    /// Reports and bans on Redis (for [`Moderation`](crate::Moderation)).
    pub moderation: Arc<dyn duet_moderation::ModerationStore>,
    /// Whether the adapter hears the other nodes (for
    /// [`DuetBuilder::adapter_link`](crate::DuetBuilder::adapter_link)).
    pub health: AdapterHealth,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("stores", &self.stores)
            .finish_non_exhaustive()
    }
}

/// Why a cluster could not be joined.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Redis could not be reached, or refused the client.
    #[error("cannot reach Redis: {0}")]
    Redis(#[source] duet_core::redis::fred::error::Error),
    /// The store refused its settings (a key prefix without a hash tag on Redis Cluster).
    #[error("{0}")]
    Store(#[source] StoreError),
    /// The match queue refused its settings (likewise).
    #[error("{0}")]
    Queue(#[source] QueueError),
    /// The moderation store refused its settings (likewise).
    #[error("{0}")]
    Moderation(#[source] duet_moderation::ModerationError),
}

/// Connects to the Redis at `url` with Duet's client settings (`duet_core::redis`): one client
/// for the store and the queue, one subscriber for the adapter. Every key starts with
/// `key_prefix` (the queue's with `<key_prefix>mq:`), and the adapter's channels with
/// `<key_prefix>socket.io`, so deployments sharing a Redis stay apart.
pub async fn connect(
    url: &str,
    key_prefix: &str,
    matching: MatchConfig,
) -> Result<Cluster, ClusterError> {
    let client = duet_core::redis::connect(url)
        .await
        .map_err(ClusterError::Redis)?;
    let subscriber = duet_core::redis::client_builder(url)
        .and_then(|mut builder| {
            builder.with_performance_config(|performance| {
                performance.broadcast_channel_capacity = SUBSCRIBER_CAPACITY;
            });
            builder.build_subscriber_client()
        })
        .map_err(ClusterError::Redis)?;
    let health = keep_subscriptions(subscriber.clone());
    // Every buffer between Redis and the sockets is sized for bursts: socketioxide-redis drops
    // (and only logs) what overflows its default 1 024-message channels.
    let adapter_config = RedisAdapterConfig::default()
        .with_prefix(format!("{key_prefix}socket.io"))
        .with_stream_buffer(SUBSCRIBER_CAPACITY);
    let adapter = RedisAdapterCtr::new_with_fred_config(subscriber, adapter_config)
        .await
        .map_err(ClusterError::Redis)?;
    let store = RedisStore::new(
        client.clone(),
        RedisStoreConfig::default().with_key_prefix(key_prefix),
    )
    .map_err(ClusterError::Store)?;
    let moderation = duet_moderation::RedisModeration::new(
        client.clone(),
        duet_moderation::RedisModerationConfig {
            key_prefix: key_prefix.to_owned(),
        },
    )
    .map_err(ClusterError::Moderation)?;
    let queue = RedisQueue::new(
        client,
        matching,
        RedisQueueConfig::default().with_key_prefix(format!("{key_prefix}mq:")),
    )
    .map_err(ClusterError::Queue)?;
    Ok(Cluster {
        stores: Stores::shared(store),
        queue: Arc::new(queue),
        adapter,
        moderation: Arc::new(moderation),
        health,
    })
}

/// A tracing layer that counts what the Redis adapter dropped between nodes in
/// [`CLUSTER_DROPPED`](crate::metrics::CLUSTER_DROPPED): socketioxide-redis reports an overflow
/// of its buffers only as a warning (`... lagged by N`, `... dropped a message`), so this is
/// where it can be counted. Install it beside the application's own layers, unfiltered by
/// them:
///
/// ```no_run
/// use tracing_subscriber::layer::SubscriberExt;
/// use tracing_subscriber::util::SubscriberInitExt;
///
/// tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer())
///     .with(duet_transport::cluster::loss_counter())
///     .init();
/// ```
pub fn loss_counter() -> LossCounter {
    LossCounter
}

/// See [`loss_counter`].
#[derive(Debug, Clone, Copy, Default)]
pub struct LossCounter;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LossCounter {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _context: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let metadata = event.metadata();
        if *metadata.level() != tracing::Level::WARN
            || !metadata.target().starts_with("socketioxide_redis")
        {
            return;
        }
        let mut message = MessageText(String::new());
        event.record(&mut message);
        if let Some(lost) = dropped_messages(&message.0) {
            metrics::counter!(crate::metrics::CLUSTER_DROPPED).increment(lost);
        }
    }
}

/// How many messages a socketioxide-redis warning says were dropped, if it says so.
fn dropped_messages(warning: &str) -> Option<u64> {
    if let Some((_, count)) = warning.split_once("lagged by ") {
        return count.trim().parse().ok();
    }
    warning.contains("dropped a message").then_some(1)
}

struct MessageText(String);

impl tracing::field::Visit for MessageText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layer_counts_what_the_adapter_says_it_dropped() {
        use tracing_subscriber::layer::SubscriberExt;
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let subscriber = tracing_subscriber::registry().with(loss_counter());
        metrics::with_local_recorder(&recorder, || {
            tracing::subscriber::with_default(subscriber, || {
                // What socketioxide-redis logs, from where it logs it.
                tracing::warn!(target: "socketioxide_redis::drivers::fred", "fred driver pubsub channel lagged by {}", 7);
                tracing::warn!(target: "socketioxide_redis::drivers::fred", "fred driver dropped a message: {}", "no capacity");
                tracing::warn!(target: "socketioxide_redis::drivers::fred", "no handler for channel");
                tracing::warn!(target: "duet_transport", "lagged by 100");
                tracing::info!(target: "socketioxide_redis::drivers::fred", "lagged by 100");
            });
        });
        let rendered = handle.render();
        assert!(
            rendered.contains(&format!("{} 8", crate::metrics::CLUSTER_DROPPED)),
            "{rendered}"
        );
    }

    #[test]
    fn the_adapters_drop_warnings_are_read() {
        assert_eq!(
            dropped_messages("fred driver pubsub channel lagged by 52"),
            Some(52)
        );
        assert_eq!(
            dropped_messages("fred driver dropped a message: no available capacity"),
            Some(1)
        );
        assert_eq!(dropped_messages("no handler for channel"), None);
    }
}
