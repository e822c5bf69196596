//! A cluster on Redis (feature `redis`): the presence store, the match queue and the Socket.IO
//! adapter on one Redis, connected together.

use std::sync::Arc;

use duet_matchmaker::{MatchConfig, MatchQueue, QueueError, RedisQueue, RedisQueueConfig};
use duet_presence_store::{RedisStore, RedisStoreConfig, StoreError, Stores};
use socketioxide_redis::drivers::fred::FredDriver;
use socketioxide_redis::{RedisAdapterConfig, RedisAdapterCtr};

pub use socketioxide_redis::FredAdapter;

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
        .and_then(|builder| builder.build_subscriber_client())
        .map_err(ClusterError::Redis)?;
    let adapter_config =
        RedisAdapterConfig::default().with_prefix(format!("{key_prefix}socket.io"));
    let adapter = RedisAdapterCtr::new_with_fred_config(subscriber, adapter_config)
        .await
        .map_err(ClusterError::Redis)?;
    let store = RedisStore::new(
        client.clone(),
        RedisStoreConfig::default().with_key_prefix(key_prefix),
    )
    .map_err(ClusterError::Store)?;
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
    })
}
