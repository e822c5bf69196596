//! Guest sessions from `duet-auth` + `duet-presence-store` in a plain axum app, without the
//! rest of Duet.
//!
//! ```text
//! cargo run -p duet-examples --example guest-sessions -- --addr 127.0.0.1:4000
//! curl -s -XPOST localhost:4000/login -d 'Ada'          # → {"token": ...}
//! curl -s localhost:4000/whoami -H "Authorization: Bearer <token>"
//! curl -s -XPOST localhost:4000/logout -H "Authorization: Bearer <token>"
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use duet_auth::{AuthError, Authenticated, Session, TokenService, Username, bearer_token};
use duet_core::{Clock, SystemClock};
use duet_presence_store::{MemoryStore, SessionStore};
use serde_json::{Value, json};

#[derive(Clone)]
struct App {
    tokens: TokenService,
    sessions: Arc<dyn SessionStore>,
}

type Failure = (StatusCode, Json<Value>);

fn refuse(error: AuthError) -> Failure {
    let status = match error {
        AuthError::Backend(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNAUTHORIZED,
    };
    (
        status,
        Json(json!({"error": {"code": error.code(), "message": error.to_string()}})),
    )
}

impl App {
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Authenticated, Failure> {
        let header = headers
            .get(header::AUTHORIZATION)
            .ok_or(AuthError::Required);
        let value = header.and_then(|h| h.to_str().map_err(|_| AuthError::Invalid));
        let token = value.and_then(bearer_token).map_err(refuse)?;
        // The token alone is not enough: the session must still be in the store.
        self.tokens
            .authenticate(token, &*self.sessions)
            .await
            .map_err(refuse)
    }
}

async fn login(State(app): State<App>, name: String) -> Result<Json<Value>, Failure> {
    let username = if name.trim().is_empty() {
        Username::random()
    } else {
        Username::parse(&name).map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": {"code": e.code(), "message": e.to_string()}})),
            )
        })?
    };
    let session = Session::start(username, SystemClock.now(), Duration::from_secs(3600));
    let internal = || {
        let body = json!({"error": {"code": duet_core::ErrorCode::Internal.as_str(), "message": "try again later"}});
        (StatusCode::INTERNAL_SERVER_ERROR, Json(body))
    };
    app.sessions
        .create_session(&session)
        .await
        .map_err(|_| internal())?;
    let issued = app.tokens.issue(&session).map_err(|_| internal())?;
    Ok(Json(json!({"token": issued.token, "guest": session.guest})))
}

async fn whoami(State(app): State<App>, headers: HeaderMap) -> Result<Json<Value>, Failure> {
    let guest = app.authenticate(&headers).await?;
    Ok(Json(json!({"guest": guest.session.guest})))
}

async fn logout(State(app): State<App>, headers: HeaderMap) -> Result<StatusCode, Failure> {
    let guest = app.authenticate(&headers).await?;
    let _ = app.sessions.revoke_session(&guest.session.id).await;
    Ok(StatusCode::NO_CONTENT)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let app = App {
        tokens: TokenService::new(&TokenService::random_secret())?,
        sessions: Arc::new(MemoryStore::new()),
    };
    let router = Router::new()
        .route("/login", post(login))
        .route("/whoami", get(whoami))
        .route("/logout", post(logout))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(duet_examples::listen_address()).await?;
    println!(
        "guest-sessions example on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
