//! The Socket.IO Redis adapter (socketioxide-redis with fred), for clusters (feature `redis`).

use socketioxide_redis::drivers::fred::FredDriver;
use socketioxide_redis::{RedisAdapterConfig, RedisAdapterCtr};

pub use socketioxide_redis::FredAdapter;

/// Builds the adapter constructor for `SocketIoBuilder::with_adapter::<FredAdapter<_>>`: a fred
/// subscriber client with the same settings as the presence store's (RESP3, fail-fast commands,
/// reconnect with backoff from 50 ms to 500 ms), connected, and channels prefixed with
/// `<key_prefix>socket.io` so deployments sharing a Redis stay apart.
pub async fn redis_adapter(
    url: &str,
    key_prefix: &str,
) -> Result<RedisAdapterCtr<FredDriver>, String> {
    let subscriber = duet_presence_store::client_builder(url)
        .map_err(|e| e.to_string())?
        .build_subscriber_client()
        .map_err(|e| e.to_string())?;
    let config = RedisAdapterConfig::default().with_prefix(format!("{key_prefix}socket.io"));
    RedisAdapterCtr::new_with_fred_config(subscriber, config)
        .await
        .map_err(|e| e.to_string())
}
