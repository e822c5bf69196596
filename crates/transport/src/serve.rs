//! [`serve`]: an HTTP/1 server for a Duet router that an operator can put in public: a client
//! must send its request headers in time (slowloris), an idle keep-alive connection is closed,
//! and one IP may hold only so many connections that have not (yet) carried an authenticated
//! socket. `axum::serve` has none of these.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Uri};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::socket::Sid;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::client_ip::TrustedProxies;
use crate::metrics as names;

/// The limits [`serve`] enforces.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// Longest a client may take to send a request's headers, counted from when the server
    /// waits for them: a new connection's first request and each later one on a kept-alive
    /// connection, so it is also how long an idle connection stays open
    /// (`DUET_HEADER_READ_TIMEOUT_MS`, default 10 s).
    pub header_read_timeout: Duration,
    /// Connections one IP may hold open that have not carried an authenticated Socket.IO
    /// handshake (`DUET_MAX_PENDING_CONNECTIONS_PER_IP`, default 128); more are closed at once.
    /// Connections from [`ServeLimits::proxies`] are not counted: behind a proxy, the proxy
    /// sees the clients.
    pub pending_per_ip: usize,
    /// Peers exempt from [`ServeLimits::pending_per_ip`] (the trusted proxies when
    /// `X-Forwarded-For` is trusted; none otherwise).
    pub proxies: Option<TrustedProxies>,
    /// The node's authenticated sockets ([`crate::Duet::authenticated_sessions`]): a connection
    /// that carries a request of one of them (a long-polling request, or the upgrade to a
    /// WebSocket, both naming the session's `sid`) stops counting against
    /// [`ServeLimits::pending_per_ip`], as the connection that carried the handshake does.
    /// Without them, a guest on long-polling, or one whose WebSocket came by upgrade, holds a
    /// pending place on each of its other connections for as long as they stay open.
    pub sessions: Option<AuthenticatedSessions>,
}

/// The node's authenticated sockets as [`serve`] needs them: a connection that carries a
/// request of one (naming its Engine.IO session's `sid`: a long-polling request, or the upgrade
/// to a WebSocket) is let go from its IP's pending places. A request of a session whose
/// handshake is still under way (the long-polling request carrying the CONNECT, and the poll
/// beside it) waits here, and its connection is let go when that handshake succeeds.
///
/// Made by [`Duet::authenticated_sessions`](crate::Duet::authenticated_sessions), which tells it
/// of each handshake that succeeds.
#[derive(Clone)]
pub struct AuthenticatedSessions {
    /// Whether a socket of that id is in the default namespace (socketioxide names a socket by
    /// its Engine.IO session's id, and Duet admits one only once its handshake succeeded).
    connected: Arc<dyn Fn(Sid) -> bool + Send + Sync>,
    waiting: Arc<Mutex<WaitingConnections>>,
}

/// Connections that carried a request of a session not (yet) authenticated.
#[derive(Debug, Default)]
struct WaitingConnections {
    by_session: HashMap<Sid, Vec<Weak<ConnectionSlot>>>,
    /// Sessions that never authenticate leave entries of closed connections behind: they are
    /// swept when the map grows past this.
    sweep_at: usize,
}

/// The fewest waiting sessions that start a sweep.
const MIN_SWEEP_AT: usize = 64;

impl AuthenticatedSessions {
    pub(crate) fn of<A: Adapter>(io: &SocketIo<A>) -> Self {
        let io = io.clone();
        Self::new(move |sid| io.of("/").is_some_and(|ns| ns.get_socket(sid).is_some()))
    }

    fn new(connected: impl Fn(Sid) -> bool + Send + Sync + 'static) -> Self {
        Self {
            connected: Arc::new(connected),
            waiting: Arc::default(),
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, WaitingConnections> {
        // Held only for one map update; nothing panics under it.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `slot`'s connection carries a request for `uri`: let it go now if that names an
    /// authenticated session, or once the session it names authenticates.
    fn carried(&self, uri: &Uri, slot: &Arc<ConnectionSlot>) {
        let Some(sid) = session_named_by(uri) else {
            return;
        };
        if (self.connected)(sid) {
            slot.authenticated();
            return;
        }
        let mut waiting = self.waiting();
        let slots = waiting.by_session.entry(sid).or_default();
        if !slots.iter().any(|kept| kept.as_ptr() == Arc::as_ptr(slot)) {
            slots.push(Arc::downgrade(slot));
        }
        if waiting.by_session.len() >= waiting.sweep_at {
            waiting
                .by_session
                .retain(|_, slots| slots.iter().any(|slot| slot.strong_count() > 0));
            waiting.sweep_at = (waiting.by_session.len() * 2).max(MIN_SWEEP_AT);
        }
    }

    /// The handshake of session `sid` succeeded: the connections that carried its requests
    /// no longer count as pending.
    pub(crate) fn authenticated(&self, sid: Sid) {
        let slots = self.waiting().by_session.remove(&sid);
        for slot in slots
            .into_iter()
            .flatten()
            .filter_map(|slot| slot.upgrade())
        {
            slot.authenticated();
        }
    }
}

/// The Engine.IO session a request names (its `sid` query parameter).
fn session_named_by(uri: &Uri) -> Option<Sid> {
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("sid="))?
        .parse()
        .ok()
}

impl std::fmt::Debug for AuthenticatedSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticatedSessions")
            .field("waiting", &self.waiting().by_session.len())
            .finish_non_exhaustive()
    }
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            pending_per_ip: 128,
            proxies: None,
            sessions: None,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets every open connection finish
/// (each told to close after its current request; upgraded ones, such as WebSockets, end with
/// their own protocol). Accepted sockets get `TCP_NODELAY` (acks and relayed messages are small
/// writes that Nagle's algorithm would hold back up to ~40 ms), and every request carries
/// `ConnectInfo<SocketAddr>` of its peer.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) {
    // What `axum::serve` does too: each route's handler is turned into a service, and the
    // router's layers applied to it, once here instead of again on every request. The
    // Socket.IO layer among them holds Engine.IO's table of sessions: built anew per request,
    // a long-polling session would be unknown to the very next request of its client.
    let app: Router = app.with_state(());
    let pending = Arc::new(PendingConnections::default());
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let exempt = limits
            .proxies
            .as_ref()
            .is_some_and(|proxies| proxies.trusts(peer.ip()));
        let slot = if exempt {
            None
        } else {
            match pending.claim(peer.ip(), limits.pending_per_ip) {
                Some(slot) => Some(slot),
                None => {
                    metrics::counter!(names::CONNECTIONS_REFUSED).increment(1);
                    // No address in the logs (docs/operations.md, Moderation).
                    tracing::debug!("too many pending connections from one IP");
                    continue;
                }
            }
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
        let sessions = limits.sessions.clone();
        let service = app
            .clone()
            .map_request(move |mut request: axum::http::Request<Incoming>| {
                detach_from_read_buffer(&mut request);
                request.extensions_mut().insert(ConnectInfo(peer));
                if let Some(slot) = &slot {
                    if let Some(sessions) = sessions.as_ref().filter(|_| slot.is_pending()) {
                        sessions.carried(request.uri(), slot);
                    }
                    request.extensions_mut().insert(Arc::clone(slot));
                }
                request.map(axum::body::Body::new)
            });
        let header_read_timeout = limits.header_read_timeout;
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let connection = builder
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .with_upgrades();
            let mut connection = pin!(connection);
            tokio::select! {
                served = connection.as_mut() => log_end(served),
                () = async {
                    // The guard it returns must not live across the await below.
                    let _ = stopped.wait_for(|stop| *stop).await;
                } => {
                    connection.as_mut().graceful_shutdown();
                    log_end(connection.await);
                }
            }
        });
    }
    drop((listener, stopped));
    let _ = stop.send(true);
    // Every connection task holds a receiver: they are all done once none is left.
    stop.closed().await;
}

/// Gives the request's header values and URI their own storage. hyper parses them as slices of
/// the connection's read buffer (8 KiB or more), and socketioxide keeps a socket's request parts
/// for as long as the socket lives: every connected guest would otherwise pin that whole buffer
/// for a few hundred bytes of headers.
fn detach_from_read_buffer<B>(request: &mut axum::http::Request<B>) {
    for value in request.headers_mut().values_mut() {
        // `from_bytes` copies; a value hyper accepted is valid again.
        if let Ok(mut owned) = HeaderValue::from_bytes(value.as_bytes()) {
            owned.set_sensitive(value.is_sensitive());
            *value = owned;
        }
    }
    let uri = request.uri().to_string();
    if let Ok(owned) = Uri::from_maybe_shared(Bytes::from(uri)) {
        *request.uri_mut() = owned;
    }
}

fn log_end(served: Result<(), hyper::Error>) {
    if let Err(error) = served {
        tracing::debug!(%error, "HTTP connection ended");
    }
}

/// Connections per IP that have not carried an authenticated handshake.
#[derive(Debug, Default)]
struct PendingConnections {
    by_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl PendingConnections {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Held only for one map update; nothing panics under it.
        self.by_ip.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn claim(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<Arc<ConnectionSlot>> {
        let mut counts = self.counts();
        let count = counts.entry(ip).or_default();
        if *count >= cap {
            if *count == 0 {
                counts.remove(&ip);
            }
            return None;
        }
        *count += 1;
        Some(Arc::new(ConnectionSlot {
            ip,
            pending: Arc::clone(self),
            released: AtomicBool::new(false),
        }))
    }

    fn release(&self, ip: IpAddr) {
        let mut counts = self.counts();
        if let Some(count) = counts.get_mut(&ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&ip);
            }
        }
    }
}

/// A connection's place among its IP's pending connections, in each of its requests'
/// extensions; given back when the connection closes or carries an authenticated handshake.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    ip: IpAddr,
    pending: Arc<PendingConnections>,
    released: AtomicBool,
}

impl ConnectionSlot {
    fn is_pending(&self) -> bool {
        !self.released.load(Ordering::Acquire)
    }

    /// The connection carried an authenticated handshake: it no longer counts as pending.
    pub(crate) fn authenticated(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.pending.release(self.ip);
        }
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.authenticated();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_per_ip_and_given_back_once() {
        let pending = Arc::new(PendingConnections::default());
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        let first = pending.claim(ip, 2);
        let second = pending.claim(ip, 2);
        assert!(first.is_some() && second.is_some());
        assert!(pending.claim(ip, 2).is_none(), "a third is refused");
        assert!(pending.claim(other, 2).is_some(), "another IP has its own");
        if let Some(slot) = &first {
            slot.authenticated();
            slot.authenticated();
        }
        let third = pending.claim(ip, 2);
        assert!(third.is_some(), "authenticating gives the place back, once");
        assert!(pending.claim(ip, 2).is_none());
        drop((first, second, third));
        assert!(
            pending.counts().is_empty(),
            "closed connections leave nothing behind"
        );
    }

    fn uri(text: &str) -> Uri {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn a_request_names_its_session_by_its_sid_parameter() {
        let sid = Sid::new();
        let named = |text: String| session_named_by(&uri(&text));
        assert_eq!(
            named(format!("/socket.io/?EIO=4&transport=polling&t=x&sid={sid}")),
            Some(sid)
        );
        assert_eq!(
            named(format!("/socket.io/?sid={sid}&transport=websocket")),
            Some(sid)
        );
        assert_eq!(named("/socket.io/?EIO=4&transport=polling".into()), None);
        assert_eq!(named("/socket.io/?sid=not-a-sid".into()), None);
        assert_eq!(named(format!("/socket.io/?xsid={sid}")), None);
        assert_eq!(named("/health".into()), None);
    }

    #[test]
    fn connections_of_a_session_are_let_go_when_it_is_or_becomes_authenticated() {
        let pending = Arc::new(PendingConnections::default());
        let ip: IpAddr = [10, 0, 0, 3].into();
        let (known, handshaking) = (Sid::new(), Sid::new());
        let sessions = AuthenticatedSessions::new(move |sid| sid == known);
        let claim = || {
            pending
                .claim(ip, 8)
                .unwrap_or_else(|| panic!("under the cap"))
        };
        let count = || pending.counts().get(&ip).copied().unwrap_or(0);

        let upgrade = claim();
        sessions.carried(
            &uri(&format!("/socket.io/?transport=websocket&sid={known}")),
            &upgrade,
        );
        assert!(
            !upgrade.is_pending(),
            "a request of an authenticated session"
        );

        let (post, poll, stranger) = (claim(), claim(), claim());
        let of_handshaking = uri(&format!("/socket.io/?transport=polling&sid={handshaking}"));
        sessions.carried(&of_handshaking, &post);
        sessions.carried(&of_handshaking, &post);
        sessions.carried(&of_handshaking, &poll);
        sessions.carried(&uri("/api/stats"), &stranger);
        assert_eq!(
            count(),
            3,
            "a session still handshaking lets nothing go yet"
        );

        sessions.authenticated(handshaking);
        assert!(!post.is_pending() && !poll.is_pending());
        assert!(
            stranger.is_pending(),
            "a request naming no session counts on"
        );
        assert_eq!(count(), 1);
        assert_eq!(sessions.waiting().by_session.len(), 0);
    }

    #[test]
    fn sessions_that_never_authenticate_are_swept_once_their_connections_close() {
        let pending = Arc::new(PendingConnections::default());
        let ip: IpAddr = [10, 0, 0, 4].into();
        let sessions = AuthenticatedSessions::new(|_| false);
        for _ in 0..MIN_SWEEP_AT * 3 {
            let slot = pending
                .claim(ip, 1)
                .unwrap_or_else(|| panic!("the last one closed"));
            sessions.carried(&uri(&format!("/socket.io/?sid={}", Sid::new())), &slot);
        }
        let left = sessions.waiting().by_session.len();
        assert!(
            left < MIN_SWEEP_AT,
            "{left} sessions of closed connections kept"
        );
        assert!(pending.counts().is_empty());
    }

    #[test]
    fn headers_and_uri_stop_pointing_into_the_read_buffer() {
        // As hyper parses a request: values and the URI are slices of one connection buffer.
        let buffer = Bytes::from(
            b"/socket.io/?EIO=4&transport=websocket websocket secret-token"
                .iter()
                .copied()
                .chain(std::iter::repeat_n(0, 8192))
                .collect::<Vec<u8>>(),
        );
        let (Ok(uri), Ok(upgrade), Ok(mut token)) = (
            Uri::from_maybe_shared(buffer.slice(0..37)),
            HeaderValue::from_maybe_shared(buffer.slice(38..47)),
            HeaderValue::from_maybe_shared(buffer.slice(48..60)),
        ) else {
            panic!("the fixture parses");
        };
        token.set_sensitive(true);
        let mut request = axum::http::Request::builder()
            .uri(uri)
            .header("upgrade", upgrade)
            .header("authorization", token)
            .body(())
            .unwrap_or_default();
        let inside = |bytes: &[u8]| buffer.as_ptr_range().contains(&bytes.as_ptr());
        assert!(
            inside(request.headers()["upgrade"].as_bytes()),
            "the fixture shares"
        );

        detach_from_read_buffer(&mut request);

        assert_eq!(request.uri(), "/socket.io/?EIO=4&transport=websocket");
        assert_eq!(request.headers()["upgrade"], "websocket");
        let kept_token = &request.headers()["authorization"];
        assert!(kept_token.is_sensitive(), "sensitivity is kept");
        let path = request.uri().path_and_query().map(|p| p.as_str());
        for bytes in [
            request.headers()["upgrade"].as_bytes(),
            kept_token.as_bytes(),
            path.unwrap_or_default().as_bytes(),
        ] {
            assert!(!inside(bytes), "copied out of the buffer");
        }
    }
}
