//! `duet-transport`: all of Duet (HTTP API and Socket.IO chat) inside someone else's axum app,
//! next to its own routes.
//!
//! ```text
//! cargo run -p duet-examples --example embedded-chat -- --addr 127.0.0.1:4000
//! curl -s localhost:4000/hello
//! curl -s -XPOST localhost:4000/api/guest/session     # then connect socket.io-client to :4000
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use duet_auth::TokenService;
use duet_matchmaker::{MatchConfig, MemoryQueue};
use duet_presence_store::Stores;
use duet_transport::{Duet, Settings};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The five lines of the duet-transport front page.
    let tokens = TokenService::new(&TokenService::random_secret())?;
    let queue = Arc::new(MemoryQueue::new(MatchConfig::default()));
    let settings = Settings::default();
    let (socket_layer, io) = settings.socket_io_builder().build_layer();
    let (duet, ()) = Duet::builder(tokens, Stores::memory(), queue)
        .settings(settings)
        .build(&io);
    let _tasks = duet.spawn_tasks();

    let app = Router::new()
        .route("/hello", get(|| async { "the host app's own route" }))
        .merge(duet.router())
        .layer(socket_layer);
    let listener = tokio::net::TcpListener::bind(duet_examples::listen_address()).await?;
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
