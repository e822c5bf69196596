//! `duet-transport`: all of Duet (HTTP API and Socket.IO chat) inside someone else's axum app,
//! next to its own routes.
//!
//! ```text
//! cargo run -p duet-examples --example embedded-chat
//! curl -s localhost:4003/hello
//! curl -s -XPOST localhost:4003/api/guest/session     # then connect socket.io-client to :4003
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use duet_auth::TokenService;
use duet_matchmaker::{MatchConfig, MatchQueue, MemoryQueue};
use duet_presence_store::MemoryStore;
use duet_transport::{Chat, ChatSettings, Services, Settings};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let queue: Arc<dyn MatchQueue> = Arc::new(MemoryQueue::new(MatchConfig::default()));
    let tokens = TokenService::new(&TokenService::random_secret())?;
    let services = Services::new(tokens, Arc::new(MemoryStore::new()), Settings::default())
        .with_queue(Arc::clone(&queue));
    let services = Arc::new(services);
    let settings = ChatSettings::default();
    let (socket_layer, io) = settings.socket_io_builder().build_layer();
    let (chat, ()) = Chat::attach(Arc::clone(&services), queue, settings, &io);
    duet_transport::chat::end_sessions_on_delete(&chat);
    let _heartbeat = services.spawn_maintenance();
    let _background = chat.spawn_background();

    let app = Router::new()
        .route("/hello", get(|| async { "the host app's own route" }))
        .merge(duet_transport::http::router(services))
        .layer(socket_layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:4003").await?;
    println!("embedded chat on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
