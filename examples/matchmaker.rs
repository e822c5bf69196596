//! `duet-matchmaker` alone: a "find me a partner" endpoint in a plain axum app, without
//! Socket.IO. A client polls `/match/<id>` until it is paired.
//!
//! ```text
//! cargo run -p duet-examples --example matchmaker -- --addr 127.0.0.1:4000
//! curl -s -XPOST 'localhost:4000/match?interests=rust,jazz'   # → {"id": ..., "status": "waiting"}
//! curl -s -XPOST 'localhost:4000/match?interests=Rust'        # → {"id": ..., "status": "paired", ...}
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use duet_core::GuestId;
use duet_matchmaker::{Enqueued, Interests, MatchConfig, MatchQueue, MemoryQueue, Pairing, Ticket};
use serde_json::{Value, json};

#[derive(Clone)]
struct App {
    queue: Arc<dyn MatchQueue>,
    /// Pairs found so far, by guest, for the polling endpoint.
    partners: Arc<Mutex<HashMap<GuestId, Pairing>>>,
}

impl App {
    fn remember(&self, pairing: &Pairing) {
        if let Ok(mut partners) = self.partners.lock() {
            partners.insert(pairing.initiator.guest, pairing.clone());
            partners.insert(pairing.responder.guest, pairing.clone());
        }
    }
}

fn describe(guest: GuestId, pairing: &Pairing) -> Value {
    let partner = if pairing.initiator.guest == guest {
        pairing.responder.guest
    } else {
        pairing.initiator.guest
    };
    json!({"id": guest, "status": "paired", "partner": partner, "common": pairing.common_interests})
}

async fn join(State(app): State<App>, Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    let raw = query.get("interests").map(String::as_str).unwrap_or("");
    let list = raw.split(',').filter(|i| !i.trim().is_empty());
    let Ok(interests) = Interests::parse(list) else {
        return Json(json!({"error": duet_core::ErrorCode::InvalidPayload.as_str()}));
    };
    let guest = GuestId::random();
    match app.queue.enqueue(Ticket::new(guest, interests)).await {
        Ok(Enqueued::Paired(pairing)) => {
            app.remember(&pairing);
            Json(describe(guest, &pairing))
        }
        Ok(_) => Json(json!({"id": guest, "status": "waiting"})),
        Err(error) => Json(json!({"error": error.code()})),
    }
}

async fn status(State(app): State<App>, Path(guest): Path<String>) -> Json<Value> {
    let Ok(guest) = guest.parse::<GuestId>() else {
        return Json(json!({"error": duet_core::ErrorCode::InvalidPayload.as_str()}));
    };
    let paired = app
        .partners
        .lock()
        .ok()
        .and_then(|p| p.get(&guest).cloned());
    match paired {
        Some(pairing) => Json(describe(guest, &pairing)),
        None => Json(json!({"id": guest, "status": "waiting"})),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = MatchConfig::default().with_interest_wait(Duration::from_secs(5));
    let queue: Arc<dyn MatchQueue> = Arc::new(MemoryQueue::new(config));
    let app = App {
        queue: Arc::clone(&queue),
        partners: Arc::default(),
    };
    // Pairs that form when an interest wait ends arrive here, without polling the queue.
    let (mut due, _matcher) = duet_matchmaker::spawn_matcher(queue, Duration::from_millis(100));
    let background = app.clone();
    tokio::spawn(async move {
        while let Some(work) = due.recv().await {
            for pairing in &work.pairings {
                background.remember(pairing);
            }
        }
    });
    let router = Router::new()
        .route("/match", post(join))
        .route("/match/{id}", get(status))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(duet_examples::listen_address()).await?;
    println!("matchmaker example on http://{}", listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
