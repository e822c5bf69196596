//! `duet-signaling` alone: a `/turn` endpoint handing out coturn-compatible TURN REST credentials
//! (`use-auth-secret`), the way any WebRTC app can, without the rest of Duet.
//!
//! ```text
//! TURN_SECRET=s3cret cargo run -p duet-examples --example turn-credentials -- --addr 127.0.0.1:4000
//! curl -s 'localhost:4000/turn?user=alice'
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use duet_signaling::IceConfig;
use serde_json::{Value, json};

/// How long handed-out credentials stay valid.
const LIFETIME: Duration = Duration::from_secs(3600);

async fn turn(
    State(ice): State<Arc<IceConfig>>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Value> {
    let user = query.get("user").map(String::as_str).unwrap_or("anonymous");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let expires = i64::try_from((now + LIFETIME).as_secs()).unwrap_or(i64::MAX);
    Json(json!({"iceServers": ice.servers_for(user, expires)}))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("TURN_SECRET").ok();
    let ice = IceConfig::from_lists(
        "stun:stun.l.google.com:19302",
        "turn:turn.example.org:3478?transport=udp",
        secret.as_deref(),
    );
    let router = Router::new()
        .route("/turn", get(turn))
        .with_state(Arc::new(ice));
    let listener = tokio::net::TcpListener::bind(duet_examples::listen_address()).await?;
    println!(
        "turn-credentials example on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
