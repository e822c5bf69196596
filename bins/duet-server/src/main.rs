//! `duet-server`: the reference Duet server. See `--help` for every setting.

mod config;
mod web_demo;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::handler::HandlerWithoutStateExt;
use clap::Parser;
use duet_auth::TokenService;
use duet_core::NodeId;
use duet_matchmaker::{MatchConfig, MemoryQueue};
use duet_presence_store::Stores;
use duet_transport::{AdapterKind, Duet, OriginPatterns, Readiness};
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
    use tracing_subscriber::layer::{Layer, SubscriberExt};
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let colours = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let output = tracing_subscriber::fmt::layer().with_ansi(colours);
    let output = match format {
        LogFormat::Pretty => output.boxed(),
        LogFormat::Json => output.json().boxed(),
    };
    let registry = tracing_subscriber::registry().with(output.with_filter(filter));
    // Counts what the Redis adapter drops between nodes, whatever RUST_LOG shows.
    #[cfg(feature = "redis")]
    let registry = registry.with(duet_transport::cluster::loss_counter());
    registry.init();
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
    let matching = MatchConfig::default()
        .with_interest_wait(Duration::from_millis(config.match_interest_wait_ms));
    let settings = config.settings()?;
    let readiness = match choose_backend(&config, matching.clone()).await {
        #[cfg(feature = "redis")]
        Backend::Cluster(cluster) => {
            use duet_transport::cluster::FredAdapter;
            let cluster = *cluster;
            let (layer, io) = settings
                .socket_io_builder()
                .with_adapter::<FredAdapter<_>>(cluster.adapter)
                .build_layer();
            let moderation = moderation(&config, &secret, cluster.moderation)?;
            let (duet, init) = Duet::builder(tokens, cluster.stores, cluster.queue)
                .settings(settings)
                .moderation(moderation)
                .node_id(node_id)
                .readiness(Readiness {
                    adapter: AdapterKind::Redis,
                    redis_fallback: false,
                })
                .adapter_link(cluster.health)
                .build(&io);
            init.await
                .map_err(|e| format!("the Socket.IO Redis adapter did not start: {e}"))?;
            return serve(&config, duet, layer).await;
        }
        Backend::Memory(readiness) => readiness,
    };
    let queue = Arc::new(MemoryQueue::new(matching));
    let (layer, io) = settings.socket_io_builder().build_layer();
    let store = Arc::new(duet_moderation::MemoryModeration::new());
    let moderation = moderation(&config, &secret, store)?;
    let (duet, ()) = Duet::builder(tokens, Stores::memory(), queue)
        .settings(settings)
        .moderation(moderation)
        .node_id(node_id)
        .readiness(readiness)
        .build(&io);
    serve(&config, duet, layer).await
}

/// How the node keeps abuse out, on `store`: keys derived from the JWT secret that every node
/// of a deployment shares, so address tags and challenges agree across nodes.
fn moderation(
    config: &Config,
    secret: &[u8],
    store: Arc<dyn duet_moderation::ModerationStore>,
) -> Result<duet_transport::Moderation, String> {
    use duet_moderation::{AddressKey, ProofOfWork, derive_key};
    let address_key = AddressKey::new(&derive_key(secret, "duet address tags"));
    let mut moderation = duet_transport::Moderation::new(store, address_key);
    moderation.autoban = config.autoban();
    moderation.admin_token = config.admin_token()?;
    moderation.filter = config
        .content_filter()?
        .map(|list| Arc::new(list) as Arc<dyn duet_moderation::ContentFilter>);
    moderation.proof_of_work = (config.pow_difficulty > 0).then(|| {
        ProofOfWork::new(
            &derive_key(secret, "duet proof of work"),
            config.pow_difficulty,
            Duration::from_secs(config.pow_challenge_seconds),
        )
    });
    moderation.evidence_messages = usize::try_from(config.report_evidence_messages).unwrap_or(0);
    moderation.max_guests_per_address = config.max_guests_per_ip;
    Ok(moderation)
}

/// Serves HTTP and Socket.IO on one port until SIGINT/SIGTERM, then drains.
async fn serve<A: Adapter>(
    config: &Config,
    duet: Arc<Duet<A>>,
    socket_layer: SocketIoLayer<A>,
) -> Result<(), String> {
    let cors = OriginPatterns::parse(&config.cors_origins);
    let mut app = duet.router();
    if let Some(dir) = &config.web_dir {
        // A directory that is not there would serve nothing but 404s: say so at once.
        if !dir.is_dir() {
            return Err(format!(
                "DUET_WEB_DIR {} is not a directory (build the web demo with `npm run build` in web/)",
                dir.display()
            ));
        }
        // The files of `dir` (`index.html` for a directory) for GET and HEAD; a missing file or
        // another method gets the API's JSON `404 NOT_FOUND`, like every unknown route.
        let not_found = (|| async { duet_transport::ApiError::not_found() }).into_service();
        let files = tower_http::services::ServeDir::new(dir)
            .call_fallback_on_method_not_allowed(true)
            .fallback(not_found);
        app = app.fallback_service(files);
        tracing::info!(dir = %dir.display(), "serving the web demo at /");
    } else if config.web_demo && web_demo::is_embedded() {
        app = app.fallback(web_demo::serve);
        tracing::info!("serving the built-in web demo at /");
    }
    let app = app.layer(socket_layer).layer(cors.layer());

    let address = format!("{}:{}", config.host, config.port);
    let listener = TcpListener::bind(&address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let limits = config.serve_limits(duet.authenticated_sessions())?;
    let tasks = duet.spawn_tasks();
    tracing::info!(
        address = %local,
        node_id = %duet.node_id(),
        store = duet.stores().kind().as_str(),
        adapter = duet.readiness().adapter.as_str(),
        "duet-server listening"
    );

    let drain_limit = Duration::from_millis(config.shutdown_timeout_ms);
    let draining = Arc::new(tokio::sync::Notify::new());
    let drain = {
        let duet = Arc::clone(&duet);
        let draining = Arc::clone(&draining);
        async move {
            shutdown_signal().await;
            draining.notify_one();
            // Clients see a dropped connection, reconnect elsewhere and resume within the grace.
            duet.close().await;
        }
    };
    let server = duet_transport::serve::serve(listener, app, limits, drain);
    let served = tokio::select! {
        () = server => Ok(()),
        () = async {
            draining.notified().await;
            tokio::time::sleep(drain_limit).await;
        } => {
            tracing::warn!(?drain_limit, "drain took too long; exiting anyway");
            Ok(())
        }
    };
    drop(tasks);
    // Leave the cluster at once instead of waiting for the heartbeat to expire.
    match tokio::time::timeout(drain_limit, duet.leave_cluster()).await {
        Ok(Ok(())) => tracing::info!("node removed from presence"),
        Ok(Err(error)) => tracing::warn!(%error, "could not remove this node from presence"),
        Err(_) => tracing::warn!("removing this node from presence timed out"),
    }
    served
}

/// Where this node keeps shared state.
enum Backend {
    /// Everything in this process; `/ready` says whether that was a fallback.
    Memory(Readiness),
    /// Redis: store, queue and the Socket.IO adapter.
    #[cfg(feature = "redis")]
    Cluster(Box<duet_transport::cluster::Cluster>),
}

/// Redis when configured and reachable; otherwise memory, loudly, with `/ready` degraded.
async fn choose_backend(config: &Config, matching: MatchConfig) -> Backend {
    let Some(url) = non_empty(&config.redis_url) else {
        tracing::info!("DUET_REDIS_URL is not set: single node, everything in memory");
        return Backend::Memory(Readiness::default());
    };
    #[cfg(feature = "redis")]
    {
        let prefix = &config.redis_key_prefix;
        let joined = tokio::time::timeout(
            REDIS_CONNECT_TIMEOUT,
            duet_transport::cluster::connect(url, prefix, matching),
        )
        .await;
        match joined {
            Ok(Ok(cluster)) => {
                tracing::info!(
                    "cluster mode: presence, matching and the Socket.IO adapter on Redis"
                );
                return Backend::Cluster(Box::new(cluster));
            }
            Ok(Err(error)) => tracing::error!(
                %error,
                "DUET_REDIS_URL is set but Redis is unreachable: RUNNING ON MEMORY ALONE; this node does not share state with any other and /ready reports degraded"
            ),
            Err(_) => tracing::error!(
                timeout = ?REDIS_CONNECT_TIMEOUT,
                "DUET_REDIS_URL is set but Redis did not answer in time: RUNNING ON MEMORY ALONE; this node does not share state with any other and /ready reports degraded"
            ),
        }
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = matching;
        tracing::error!(
            url_set = !url.is_empty(),
            "DUET_REDIS_URL is set but this build has no Redis support: RUNNING ON MEMORY ALONE"
        );
    }
    Backend::Memory(Readiness {
        adapter: AdapterKind::Local,
        redis_fallback: true,
    })
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
