//! The fred client every Redis backend of Duet is built from (feature `redis`), so the presence
//! store, the match queue and the cluster adapter behave alike when Redis is slow or gone.

use std::time::Duration;

use fred::prelude::{Builder, Client, ClientLike, Config, ReconnectPolicy};
use fred::types::RespVersion;

pub use fred;

/// How long one command, or one connection attempt, may take before it fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a command is tried before its caller sees the error.
pub const COMMAND_ATTEMPTS: u32 = 3;
/// The first and the longest wait between reconnection attempts, in milliseconds.
pub const RECONNECT_BACKOFF_MS: (u32, u32) = (50, 500);

/// A fred builder for `url` with Duet's settings: RESP3 (fred 10 needs it for the sharded
/// pub/sub of the cluster adapter), fail-fast commands with [`COMMAND_TIMEOUT`] and
/// [`COMMAND_ATTEMPTS`], and reconnection forever with an exponential backoff, so a node
/// comes back by itself when Redis does.
pub fn client_builder(url: &str) -> Result<Builder, fred::error::Error> {
    let mut config = Config::from_url(url)?;
    config.version = RespVersion::RESP3;
    config.fail_fast = true;
    let mut builder = Builder::from_config(config);
    builder
        .with_connection_config(|connection| {
            connection.connection_timeout = COMMAND_TIMEOUT;
            connection.internal_command_timeout = COMMAND_TIMEOUT;
            connection.max_command_attempts = COMMAND_ATTEMPTS;
        })
        .with_performance_config(|performance| {
            performance.default_command_timeout = COMMAND_TIMEOUT;
        })
        // 0 attempts means "retry forever".
        .set_policy(ReconnectPolicy::new_exponential(
            0,
            RECONNECT_BACKOFF_MS.0,
            RECONNECT_BACKOFF_MS.1,
            2,
        ));
    Ok(builder)
}

/// A client for `url` ([`client_builder`]), not yet connected.
pub fn client_from_url(url: &str) -> Result<Client, fred::error::Error> {
    client_builder(url)?.build()
}

/// [`client_from_url`], connected: returns once the first connection is ready. When that
/// fails, the client is shut down rather than left reconnecting in the background.
pub async fn connect(url: &str) -> Result<Client, fred::error::Error> {
    let client = client_from_url(url)?;
    match client.init().await {
        // The connection task runs on in the background; the client keeps it alive.
        Ok(_connection_task) => Ok(client),
        Err(error) => {
            let _ = client.quit().await;
            Err(error)
        }
    }
}
