//! `duet-moderation` alone: an ALTCHA-protected sign-up and a word-filtered comment box in a
//! plain axum app. `GET /challenge` hands out a proof-of-work challenge any ALTCHA widget can
//! solve; `POST /signup` takes the solution once; `POST /comment` refuses listed words.
//!
//! ```text
//! cargo run -p duet-examples --example moderation -- --addr 127.0.0.1:4000
//! curl -s localhost:4000/challenge
//! curl -s -XPOST localhost:4000/comment -d 'what a ＢＡＤ idea'
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use duet_moderation::{ContentFilter, MemoryModeration, ModerationStore, ProofOfWork, WordList};
use serde_json::{Value, json};

struct App {
    pow: ProofOfWork,
    store: MemoryModeration,
    filter: WordList,
}

async fn challenge(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!(app.pow.challenge(app.store.clock().now())))
}

/// The body is the ALTCHA payload (base64), as the widget puts it in its form field.
async fn signup(State(app): State<Arc<App>>, payload: String) -> (StatusCode, Json<Value>) {
    let solved = match app.pow.verify(&payload, app.store.clock().now()) {
        Ok(solved) => solved,
        Err(error) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": error.to_string()})),
            );
        }
    };
    match app
        .store
        .claim_once(&solved.challenge, solved.expires_at)
        .await
    {
        Ok(true) => (StatusCode::CREATED, Json(json!({"welcome": true}))),
        Ok(false) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "already used"})),
        ),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": error.to_string()})),
        ),
    }
}

async fn comment(State(app): State<Arc<App>>, text: String) -> (StatusCode, &'static str) {
    if app.filter.allows(&text) {
        (StatusCode::OK, "posted\n")
    } else {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused by the word list\n",
        )
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let app = Arc::new(App {
        pow: ProofOfWork::new(b"example secret", 50_000, Duration::from_secs(300)),
        store: MemoryModeration::new(),
        filter: WordList::parse("bad\nbuy now"),
    });
    let router = Router::new()
        .route("/challenge", get(challenge))
        .route("/signup", post(signup))
        .route("/comment", post(comment))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(duet_examples::listen_address()).await?;
    println!("moderation example on http://{}", listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
