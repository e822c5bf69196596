//! The Redis cluster plumbing against a Redis of the test's own, stopped and started again.
#![cfg(feature = "redis")]

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use duet_auth::TokenService;
use duet_matchmaker::MatchConfig;
use duet_test_support::OwnRedis;
use duet_transport::cluster::{self, FredAdapter};
use duet_transport::{Duet, Settings};

/// Waits (polling every millisecond, at most `within`) until `done`.
async fn until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// How many sharded channels the Redis at `port` has subscribers on.
fn shard_channels(port: u16) -> usize {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connect to Redis: {e}"));
    stream
        .write_all(b"PUBSUB SHARDCHANNELS\r\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let mut header = String::new();
    BufReader::new(stream)
        .read_line(&mut header)
        .unwrap_or_else(|e| panic!("{e}"));
    header
        .trim()
        .strip_prefix('*')
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("not an array: {header:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_adapter_is_not_receiving_from_a_lost_connection_until_its_channels_are_back() {
    let Some(mut redis) = OwnRedis::start("adapter_health") else {
        return;
    };
    let joined = cluster::connect(&redis.url(), "health:", MatchConfig::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let health = joined.health.clone();
    let settings = Settings::default();
    let (_layer, io) = settings
        .socket_io_builder()
        .with_adapter::<FredAdapter<_>>(joined.adapter)
        .build_layer();
    let tokens =
        TokenService::new(&TokenService::random_secret()).unwrap_or_else(|e| panic!("{e}"));
    let (_duet, init) = Duet::builder(tokens, joined.stores, joined.queue)
        .settings(settings)
        .build(&io);
    init.await.unwrap_or_else(|e| panic!("{e}"));
    let port = redis.port();
    assert!(health.receiving());
    assert_eq!(health.interruptions(), 0);
    assert!(
        shard_channels(port) > 0,
        "the adapter's channels are subscribed"
    );

    redis.stop();
    until(
        "the lost connection is seen",
        Duration::from_secs(5),
        || !health.receiving(),
    )
    .await;
    redis.restart();
    // The moment it says it hears the other nodes again, its channels are subscribed: not
    // merely once its subscriber has reconnected.
    until("receiving again", Duration::from_secs(10), || {
        health.receiving()
    })
    .await;
    assert!(
        shard_channels(port) > 0,
        "receiving, but no channel is subscribed"
    );
    // However many reconnections failed while Redis was down, it was one interruption: what
    // the node catches its guests up on after it.
    assert_eq!(health.interruptions(), 1);
}
