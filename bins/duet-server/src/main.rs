//! `duet-server`: the reference Duet server. See `--help` for every setting.

mod config;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::handler::HandlerWithoutStateExt;
use clap::Parser;
use duet_auth::TokenService;
use duet_matchmaker::{MatchConfig, MatchQueue, MemoryQueue};
use duet_presence_store::{MemoryStore, NodeId, PresenceStore};
use duet_transport::{AdapterKind, Chat, OriginPatterns, Readiness, Services, Settings};
use socketioxide::adapter::Adapter;
use socketioxide::layer::SocketIoLayer;
use tokio::net::TcpListener;

use crate::config::{Config, LogFormat, non_empty};

/// How long start-up waits for Redis before falling back to memory.
#[cfg(feature = "redis")]
const REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    init_tracing(config.log_format);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            tracing::error!("{reason}");
            eprintln!("duet-server: {reason}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let colours = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(config: Config) -> Result<(), String> {
    let secret = config.jwt_secret()?;
    let tokens = TokenService::new(&secret).map_err(|e| e.to_string())?;
    let node_id = match non_empty(&config.node_id) {
        Some(name) => NodeId::new(name).ok_or_else(|| {
            format!("DUET_NODE_ID {name:?} must be non-empty without spaces or '|'")
        })?,
        None => NodeId::random(),
    };
    let match_config = MatchConfig::default()
        .with_interest_wait(Duration::from_millis(config.match_interest_wait_ms));
    let backend = choose_backend(&config, match_config).await;
    let settings = Settings {
        session_ttl: config.session_ttl(),
        sessions_per_minute: config.session_rate_limit_per_minute,
        trust_forwarded_for: config.trust_proxy,
        ..Settings::default()
    };
    let services = Arc::new(
        Services::new(tokens, backend.store, settings)
            .with_readiness(backend.readiness)
            .with_node_id(node_id.clone())
            .with_queue(Arc::clone(&backend.queue)),
    );
    let chat_settings = config.chat_settings();
    let builder = chat_settings.socket_io_builder();
    #[cfg(feature = "redis")]
    if let Some(adapter) = backend.adapter {
        use duet_transport::cluster::FredAdapter;
        let (layer, io) = builder
            .with_adapter::<FredAdapter<_>>(adapter)
            .build_layer();
        let (chat, init) = Chat::attach(Arc::clone(&services), backend.queue, chat_settings, &io);
        init.await
            .map_err(|e| format!("the Socket.IO Redis adapter did not start: {e}"))?;
        return serve(&config, services, chat, layer).await;
    }
    let (layer, io) = builder.build_layer();
    let (chat, ()) = Chat::attach(Arc::clone(&services), backend.queue, chat_settings, &io);
    serve(&config, services, chat, layer).await
}

/// Serves HTTP and Socket.IO on one port until SIGINT/SIGTERM, then drains.
async fn serve<A: Adapter>(
    config: &Config,
    services: Arc<Services>,
    chat: Arc<Chat<A>>,
    socket_layer: SocketIoLayer<A>,
) -> Result<(), String> {
    duet_transport::chat::end_sessions_on_delete(&chat);
    let cors = OriginPatterns::parse(&config.cors_origins);
    let mut app = duet_transport::http::router(Arc::clone(&services));
    if let Some(dir) = &config.web_dir {
        // The files of `dir` (`index.html` for a directory) for GET and HEAD; a missing file or
        // another method gets the API's JSON `404 NOT_FOUND`, like every unknown route.
        let not_found = (|| async { duet_transport::ApiError::not_found() }).into_service();
        let files = tower_http::services::ServeDir::new(dir)
            .call_fallback_on_method_not_allowed(true)
            .fallback(not_found);
        app = app.fallback_service(files);
        tracing::info!(dir = %dir.display(), "serving the web demo at /");
    }
    let app = app.layer(socket_layer).layer(cors.layer());

    let address = format!("{}:{}", config.host, config.port);
    let listener = TcpListener::bind(&address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let maintenance = services.spawn_maintenance();
    let background = chat.spawn_background();
    let node_id = services.node_id.clone();
    tracing::info!(
        address = %local,
        node_id = %node_id,
        store = services.store.kind().as_str(),
        adapter = services.readiness.adapter.as_str(),
        "duet-server listening"
    );

    let drain_limit = Duration::from_millis(config.shutdown_timeout_ms);
    let draining = Arc::new(tokio::sync::Notify::new());
    let drain = {
        let chat = Arc::clone(&chat);
        let draining = Arc::clone(&draining);
        async move {
            shutdown_signal().await;
            draining.notify_one();
            // Clients see a dropped connection, reconnect elsewhere and resume within the grace.
            chat.close().await;
        }
    };
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(drain);
    let served = tokio::select! {
        served = server => served.map_err(|e| format!("server failed: {e}")),
        () = async {
            draining.notified().await;
            tokio::time::sleep(drain_limit).await;
        } => {
            tracing::warn!(?drain_limit, "drain took too long; exiting anyway");
            Ok(())
        }
    };
    maintenance.abort();
    for task in background {
        task.abort();
    }
    // Leave the cluster at once instead of waiting for the heartbeat to expire.
    match tokio::time::timeout(drain_limit, services.store.remove_node(&node_id)).await {
        Ok(Ok(_)) => tracing::info!("node removed from presence"),
        Ok(Err(error)) => tracing::warn!(%error, "could not remove this node from presence"),
        Err(_) => tracing::warn!("removing this node from presence timed out"),
    }
    served
}

/// Where this node keeps shared state.
struct Backend {
    store: Arc<dyn PresenceStore>,
    queue: Arc<dyn MatchQueue>,
    readiness: Readiness,
    /// The Socket.IO Redis adapter, when the cluster is on Redis.
    #[cfg(feature = "redis")]
    adapter:
        Option<socketioxide_redis::RedisAdapterCtr<socketioxide_redis::drivers::fred::FredDriver>>,
}

/// Redis when configured and reachable; otherwise memory, loudly, with `/ready` degraded.
async fn choose_backend(config: &Config, match_config: MatchConfig) -> Backend {
    let memory = |readiness| Backend {
        store: Arc::new(MemoryStore::new()),
        queue: Arc::new(MemoryQueue::new(match_config.clone())),
        readiness,
        #[cfg(feature = "redis")]
        adapter: None,
    };
    let Some(url) = non_empty(&config.redis_url) else {
        tracing::info!("DUET_REDIS_URL is not set: single node, everything in memory");
        return memory(Readiness::default());
    };
    #[cfg(feature = "redis")]
    {
        use duet_matchmaker::{RedisQueue, RedisQueueConfig};
        use duet_presence_store::{RedisStore, RedisStoreConfig};
        let prefix = config.redis_key_prefix.clone();
        let connected = async {
            let client = connect_redis(url).await?;
            let adapter = tokio::time::timeout(
                REDIS_CONNECT_TIMEOUT,
                duet_transport::cluster::redis_adapter(url, &prefix),
            )
            .await
            .map_err(|_| {
                format!("the adapter's subscriber got no answer within {REDIS_CONNECT_TIMEOUT:?}")
            })??;
            Ok::<_, String>((client, adapter))
        };
        match connected.await {
            Ok((client, adapter)) => {
                let store_config = RedisStoreConfig::default().with_key_prefix(prefix.clone());
                let queue_config =
                    RedisQueueConfig::default().with_key_prefix(format!("{prefix}mq:"));
                tracing::info!(
                    "cluster mode: presence, matching and the Socket.IO adapter on Redis"
                );
                return Backend {
                    store: Arc::new(RedisStore::new(client.clone(), store_config)),
                    queue: Arc::new(RedisQueue::new(client, match_config.clone(), queue_config)),
                    readiness: Readiness {
                        adapter: AdapterKind::Redis,
                        redis_fallback: false,
                    },
                    adapter: Some(adapter),
                };
            }
            Err(reason) => tracing::error!(
                %reason,
                "DUET_REDIS_URL is set but Redis is unreachable: RUNNING ON MEMORY ALONE; this node does not share state with any other and /ready reports degraded"
            ),
        }
    }
    #[cfg(not(feature = "redis"))]
    tracing::error!(
        url_set = !url.is_empty(),
        "DUET_REDIS_URL is set but this build has no Redis support: RUNNING ON MEMORY ALONE"
    );
    memory(Readiness {
        adapter: AdapterKind::Local,
        redis_fallback: true,
    })
}

#[cfg(feature = "redis")]
async fn connect_redis(url: &str) -> Result<duet_presence_store::fred::prelude::Client, String> {
    let client = duet_presence_store::client_from_url(url).map_err(|e| e.to_string())?;
    let init = async {
        use duet_presence_store::fred::prelude::ClientLike;
        client.init().await.map(drop).map_err(|e| e.to_string())
    };
    match tokio::time::timeout(REDIS_CONNECT_TIMEOUT, init).await {
        Ok(Ok(())) => Ok(client),
        Ok(Err(reason)) => Err(reason),
        Err(_) => {
            // Stop the client's reconnect loop: this process will not use it.
            use duet_presence_store::fred::prelude::ClientLike;
            let _ = client.quit().await;
            Err(format!("no answer within {REDIS_CONNECT_TIMEOUT:?}"))
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}
