//! Every setting of `duet-server`: a command-line flag, or the `DUET_*` variable of
//! protocol.md §3 (the flag wins).

use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Anonymous one-to-one chat over Socket.IO.
#[derive(Debug, Clone, Parser)]
#[command(name = "duet-server", version, about)]
pub(crate) struct Config {
    /// Address to listen on.
    #[arg(long, env = "DUET_HOST", default_value = "0.0.0.0")]
    pub(crate) host: String,

    /// Port to listen on (0 picks a free one; the chosen address is logged).
    #[arg(long, env = "DUET_PORT", default_value_t = 3000)]
    pub(crate) port: u16,

    /// `production` refuses to start without a strong `DUET_JWT_SECRET`; any other value (`test`,
    /// `staging`, …) behaves as `development`.
    #[arg(long = "env", env = "DUET_ENV", default_value = "development", value_parser = parse_environment)]
    pub(crate) environment: Environment,

    /// HS256 signing secret, at least 32 bytes. Unset in development: a random one per process.
    #[arg(long, env = "DUET_JWT_SECRET", hide_env_values = true)]
    pub(crate) jwt_secret: Option<String>,

    /// Redis for presence, matching and the cluster adapter. Unset: single node in memory.
    #[arg(long, env = "DUET_REDIS_URL")]
    pub(crate) redis_url: Option<String>,

    /// Prefix of every Redis key this deployment writes.
    #[arg(long, env = "DUET_REDIS_KEY_PREFIX", default_value = "duet:")]
    pub(crate) redis_key_prefix: String,

    /// Comma-separated allowed origins; `*` inside a host is a wildcard (`https://*.vercel.app`).
    #[arg(
        long,
        env = "DUET_CORS_ORIGINS",
        default_value = "http://localhost:3000"
    )]
    pub(crate) cors_origins: String,

    /// Guest session lifetime in seconds.
    #[arg(long, env = "DUET_SESSION_TTL_SECONDS", default_value_t = 7200, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) session_ttl_seconds: u64,

    /// Per-guest event budget: events per window.
    #[arg(long, env = "DUET_RATE_LIMIT_MAX", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) rate_limit_max: u32,

    /// Per-guest event budget: the window in milliseconds.
    #[arg(long, env = "DUET_RATE_LIMIT_WINDOW_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) rate_limit_window_ms: u64,

    /// Guest sessions one client IP may create per minute.
    #[arg(long, env = "DUET_SESSION_RATE_LIMIT_PER_MINUTE", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) session_rate_limit_per_minute: u32,

    /// How long interests are tried before random pairing, in milliseconds.
    #[arg(long, env = "DUET_MATCH_INTEREST_WAIT_MS", default_value_t = 10_000)]
    pub(crate) match_interest_wait_ms: u64,

    /// How long a dropped guest's chat is held, in milliseconds (0 turns resuming off).
    #[arg(long, env = "DUET_RESUME_GRACE_MS", default_value_t = 15_000)]
    pub(crate) resume_grace_ms: u64,
    /// How long the chat of a guest whose page said it was going away (`chat:leaving`) is held
    /// once its connection drops, in milliseconds (at most the resume grace).
    #[arg(long, env = "DUET_RELOAD_GRACE_MS", default_value_t = 3_000)]
    pub(crate) reload_grace_ms: u64,
    /// A short notice for the start screen of the web demo and of clients that show it (age,
    /// conduct), from `GET /api/config`.
    #[arg(long, env = "DUET_NOTICE")]
    pub(crate) notice: Option<String>,

    /// A directory of static files served at `/` beside the API: the built web demo
    /// (`web/dist`). Unset: the demo built into the binary (see `--web-demo`).
    #[arg(long, env = "DUET_WEB_DIR")]
    pub(crate) web_dir: Option<std::path::PathBuf>,
    /// Serve the web demo built into the binary at `/` when no `DUET_WEB_DIR` is given.
    #[arg(long, env = "DUET_WEB_DEMO", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) web_demo: bool,

    /// Largest file in one `chat:message`, in bytes.
    #[arg(long, env = "DUET_MAX_FILE_BYTES", default_value_t = 1_048_576)]
    pub(crate) max_file_bytes: u64,

    /// Bytes kept for one direction of a chat (held for an away guest, or kept for a replay).
    #[arg(long, env = "DUET_HELD_BYTES_PER_CHAT", default_value_t = 8 * 1024 * 1024)]
    pub(crate) held_bytes_per_chat: u64,

    /// Bytes kept for all chats together, in this node's memory or the shared Redis.
    #[arg(long, env = "DUET_HELD_BYTES_TOTAL", default_value_t = 256 * 1024 * 1024)]
    pub(crate) held_bytes_total: u64,

    /// Engine.IO ping interval in milliseconds.
    #[arg(long, env = "DUET_PING_INTERVAL_MS", default_value_t = 25_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) ping_interval_ms: u64,

    /// Engine.IO ping timeout in milliseconds.
    #[arg(long, env = "DUET_PING_TIMEOUT_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) ping_timeout_ms: u64,

    /// Comma-separated TURN URLs handed to clients.
    #[arg(long, env = "DUET_TURN_URLS")]
    pub(crate) turn_urls: Option<String>,

    /// TURN REST API shared secret (coturn `static-auth-secret`).
    #[arg(long, env = "DUET_TURN_SECRET", hide_env_values = true)]
    pub(crate) turn_secret: Option<String>,

    /// Comma-separated STUN URLs handed to clients.
    #[arg(long, env = "DUET_STUN_URLS")]
    pub(crate) stun_urls: Option<String>,

    /// This node's name in the cluster (random when unset).
    #[arg(long, env = "DUET_NODE_ID")]
    pub(crate) node_id: Option<String>,

    /// Log format.
    #[arg(long, env = "DUET_LOG_FORMAT", value_enum, ignore_case = true, default_value_t = LogFormat::Pretty)]
    pub(crate) log_format: LogFormat,

    /// Take client IPs from `X-Forwarded-For` (only behind a proxy you trust).
    #[arg(long, env = "DUET_TRUST_PROXY", default_value_t = false)]
    pub(crate) trust_proxy: bool,
    /// Proxies whose X-Forwarded-For entries are believed when --trust-proxy is on:
    /// comma-separated networks or addresses; the client is the rightmost entry that is not one
    /// of them.
    #[arg(long, env = "DUET_TRUSTED_PROXIES", default_value = duet_transport::DEFAULT_TRUSTED_PROXIES)]
    pub(crate) trusted_proxies: String,

    /// Longest a client may take to send request headers, and longest an idle HTTP connection
    /// stays open, in milliseconds.
    #[arg(long, env = "DUET_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) header_read_timeout_ms: u64,

    /// Connections one IP may hold open that have not carried an authenticated socket.
    #[arg(long, env = "DUET_MAX_PENDING_CONNECTIONS_PER_IP", default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_pending_connections_per_ip: u64,

    /// Distinct guests whose reports within the window ban a guest (0: no automatic bans).
    #[arg(long, env = "DUET_AUTOBAN_REPORTS", default_value_t = 3)]
    pub(crate) autoban_reports: u32,
    /// The window in which reports count towards an automatic ban, in seconds.
    #[arg(long, env = "DUET_AUTOBAN_WINDOW_SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) autoban_window_seconds: u64,
    /// How long an automatic ban of a guest lasts, in seconds.
    #[arg(long, env = "DUET_AUTOBAN_SECONDS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) autoban_seconds: u64,
    /// How long an automatic ban of the guest's address lasts, in seconds (0: none; shorter
    /// than the guest's, as addresses are shared).
    #[arg(long, env = "DUET_AUTOBAN_IP_SECONDS", default_value_t = 3600)]
    pub(crate) autoban_ip_seconds: u64,
    /// How many of the reported guest's last messages are kept with a report (0: none).
    #[arg(long, env = "DUET_REPORT_EVIDENCE_MESSAGES", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub(crate) report_evidence_messages: u64,
    /// How long reports are kept for operators, in days.
    #[arg(long, env = "DUET_REPORT_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub(crate) report_retention_days: u64,
    /// Bearer token of the admin API (`/api/admin/...`), at least 32 bytes in production.
    /// Unset: the admin API does not exist.
    #[arg(long, env = "DUET_ADMIN_TOKEN", hide_env_values = true)]
    pub(crate) admin_token: Option<String>,
    /// Proof of work on session creation: the ALTCHA `maxnumber` (0: off, as the fixed protocol
    /// needs). 50000 costs a browser about half a second (docs/operations.md).
    #[arg(long, env = "DUET_POW_DIFFICULTY", default_value_t = 0)]
    pub(crate) pow_difficulty: u64,
    /// How long a proof-of-work challenge may be solved and used, in seconds.
    #[arg(long, env = "DUET_POW_CHALLENGE_SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) pow_challenge_seconds: u64,
    /// Guests that may be connected to one node from one client address at once (0: no cap).
    #[arg(long, env = "DUET_MAX_GUESTS_PER_IP", default_value_t = 128)]
    pub(crate) max_guests_per_ip: u32,
    /// A file of words and phrases (one per line, `#` comments) that chat texts may not
    /// contain. Unset: no content filter.
    #[arg(long, env = "DUET_BLOCKED_WORDS_FILE")]
    pub(crate) blocked_words_file: Option<std::path::PathBuf>,
    /// How long a graceful shutdown may take before the process exits anyway, in milliseconds.
    #[arg(long, env = "DUET_SHUTDOWN_TIMEOUT_MS", default_value_t = 10_000)]
    pub(crate) shutdown_timeout_ms: u64,
}

/// The shortest admin token production accepts.
pub(crate) const MIN_ADMIN_TOKEN_BYTES: usize = 32;

/// `DUET_ENV`, case-insensitively: `production`, or anything else.
fn parse_environment(value: &str) -> Result<Environment, std::convert::Infallible> {
    Ok(if value.trim().eq_ignore_ascii_case("production") {
        Environment::Production
    } else {
        Environment::Development
    })
}

/// `DUET_ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Environment {
    /// Lenient: a random JWT secret is generated when none is given.
    Development,
    /// Strict: a JWT secret of at least 32 bytes is required.
    Production,
}

/// `DUET_LOG_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Treats an empty variable (`DUET_REDIS_URL=`) as unset.
pub(crate) fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl Config {
    /// `DUET_TRUSTED_PROXIES`, or why it cannot be read.
    fn trusted_proxies(&self) -> Result<duet_transport::TrustedProxies, String> {
        duet_transport::TrustedProxies::parse(&self.trusted_proxies)
            .map_err(|reason| format!("DUET_TRUSTED_PROXIES: {reason}"))
    }

    /// The node's settings, or why they are refused.
    pub(crate) fn settings(&self) -> Result<duet_transport::Settings, String> {
        let ice = duet_signaling::IceConfig::from_lists(
            non_empty(&self.stun_urls).unwrap_or_default(),
            non_empty(&self.turn_urls).unwrap_or_default(),
            non_empty(&self.turn_secret),
        );
        Ok(duet_transport::Settings {
            session_ttl: Duration::from_secs(self.session_ttl_seconds),
            sessions_per_minute: self.session_rate_limit_per_minute,
            trust_forwarded_for: self.trust_proxy,
            trusted_proxies: self.trusted_proxies()?,
            rate_limit_max: self.rate_limit_max,
            rate_limit_window: Duration::from_millis(self.rate_limit_window_ms),
            resume_grace: Duration::from_millis(self.resume_grace_ms),
            reload_grace: Duration::from_millis(self.reload_grace_ms),
            notice: non_empty(&self.notice).map(str::to_owned),
            max_file_bytes: usize::try_from(self.max_file_bytes).unwrap_or(usize::MAX),
            held_bytes_per_chat: usize::try_from(self.held_bytes_per_chat).unwrap_or(usize::MAX),
            held_bytes_total: usize::try_from(self.held_bytes_total).unwrap_or(usize::MAX),
            ping_interval: Duration::from_millis(self.ping_interval_ms),
            ping_timeout: Duration::from_millis(self.ping_timeout_ms),
            ice,
            ..duet_transport::Settings::default()
        })
    }

    /// The HTTP server's limits; the trusted proxies are exempt from the per-IP cap when
    /// `X-Forwarded-For` is trusted, and so are connections carrying requests of `sessions`
    /// (the node's authenticated sockets).
    pub(crate) fn serve_limits(
        &self,
        sessions: duet_transport::serve::AuthenticatedSessions,
    ) -> Result<duet_transport::serve::ServeLimits, String> {
        Ok(duet_transport::serve::ServeLimits {
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            pending_per_ip: usize::try_from(self.max_pending_connections_per_ip)
                .unwrap_or(usize::MAX),
            proxies: if self.trust_proxy {
                Some(self.trusted_proxies()?)
            } else {
                None
            },
            sessions: Some(sessions),
        })
    }

    /// The admin token, or why the server must not start (a short one in production).
    pub(crate) fn admin_token(&self) -> Result<Option<duet_transport::AdminToken>, String> {
        let Some(token) = non_empty(&self.admin_token) else {
            return Ok(None);
        };
        if token.len() < MIN_ADMIN_TOKEN_BYTES {
            if self.environment == Environment::Production {
                return Err(format!(
                    "DUET_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_BYTES} bytes in production (got {})",
                    token.len()
                ));
            }
            tracing::warn!(
                "DUET_ADMIN_TOKEN is shorter than {MIN_ADMIN_TOKEN_BYTES} bytes; production refuses it"
            );
        }
        Ok(Some(duet_transport::AdminToken::new(token)))
    }

    /// The moderation policy from `DUET_AUTOBAN_*` and `DUET_REPORT_RETENTION_DAYS`.
    pub(crate) fn autoban(&self) -> duet_moderation::AutobanPolicy {
        duet_moderation::AutobanPolicy {
            reports: self.autoban_reports,
            window: Duration::from_secs(self.autoban_window_seconds),
            guest_ban: Duration::from_secs(self.autoban_seconds),
            address_ban: Duration::from_secs(self.autoban_ip_seconds),
            retention: Duration::from_secs(self.report_retention_days * 86_400),
        }
    }

    /// The content filter of `DUET_BLOCKED_WORDS_FILE`, or why it cannot be read.
    pub(crate) fn content_filter(&self) -> Result<Option<duet_moderation::WordList>, String> {
        let Some(path) = &self.blocked_words_file else {
            return Ok(None);
        };
        let list = duet_moderation::WordList::from_file(path)
            .map_err(|e| format!("DUET_BLOCKED_WORDS_FILE {}: {e}", path.display()))?;
        tracing::info!(entries = list.len(), "content filter loaded");
        Ok(Some(list))
    }

    /// The signing secret, or why the server must not start.
    pub(crate) fn jwt_secret(&self) -> Result<Vec<u8>, String> {
        match (non_empty(&self.jwt_secret), self.environment) {
            (Some(secret), _) if secret.len() < duet_auth::MIN_SECRET_BYTES => Err(format!(
                "DUET_JWT_SECRET must be at least {} bytes (got {})",
                duet_auth::MIN_SECRET_BYTES,
                secret.len()
            )),
            (Some(secret), _) => Ok(secret.as_bytes().to_vec()),
            (None, Environment::Production) => {
                Err("DUET_ENV=production requires DUET_JWT_SECRET (at least 32 bytes)".to_owned())
            }
            (None, Environment::Development) => {
                tracing::warn!(
                    "DUET_JWT_SECRET is not set: using a random secret for this process; tokens will not survive a restart or work on other nodes"
                );
                Ok(duet_auth::TokenService::random_secret())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        let mut all = vec!["duet-server"];
        all.extend_from_slice(args);
        Config::try_parse_from(all).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn production_needs_a_strong_secret() {
        let missing = parse(&["--env", "production"]);
        assert!(missing.jwt_secret().is_err());
        let short = parse(&["--env", "production", "--jwt-secret", "short"]);
        assert!(
            short
                .jwt_secret()
                .is_err_and(|e| e.contains("at least 32 bytes"))
        );
        let good = parse(&["--env", "production", "--jwt-secret", &"x".repeat(32)]);
        assert_eq!(good.jwt_secret().map(|s| s.len()), Ok(32));
        assert_eq!(parse(&[]).jwt_secret().map(|s| s.len()), Ok(64));
        assert!(parse(&["--env", "Production"]).jwt_secret().is_err());
        assert_eq!(
            parse(&["--env", "test"]).environment,
            Environment::Development
        );
    }

    #[test]
    fn defaults_match_the_protocol() {
        let config = parse(&[]);
        assert_eq!((config.host.as_str(), config.port), ("0.0.0.0", 3000));
        assert_eq!(config.session_ttl_seconds, 7200);
        assert_eq!(
            (config.rate_limit_max, config.rate_limit_window_ms),
            (100, 60_000)
        );
        assert_eq!(config.session_rate_limit_per_minute, 30);
        assert_eq!(config.match_interest_wait_ms, 10_000);
        assert_eq!(config.resume_grace_ms, 15_000);
        assert_eq!(config.max_file_bytes, 1_048_576);
        assert_eq!(
            (config.ping_interval_ms, config.ping_timeout_ms),
            (25_000, 60_000)
        );
        assert_eq!(config.cors_origins, "http://localhost:3000");
        assert_eq!(config.log_format, LogFormat::Pretty);
        assert_eq!(non_empty(&Some("  ".into())), None);
        let policy = config.autoban();
        assert_eq!(policy.reports, 3);
        assert_eq!(policy.window, Duration::from_secs(3600));
        assert_eq!(policy.guest_ban, Duration::from_secs(86_400));
        assert!(policy.address_ban < policy.guest_ban);
        assert_eq!(
            config.pow_difficulty, 0,
            "the fixed protocol needs no proof by default"
        );
        assert_eq!(config.report_evidence_messages, 0);
    }

    #[test]
    fn the_admin_api_needs_a_long_token_in_production() {
        assert!(parse(&[]).admin_token().is_ok_and(|t| t.is_none()));
        let short = ["--admin-token", "short"];
        assert!(parse(&short).admin_token().is_ok_and(|t| t.is_some()));
        let mut production = vec!["--env", "production"];
        production.extend(short);
        assert!(
            parse(&production)
                .admin_token()
                .is_err_and(|e| e.contains("at least 32 bytes"))
        );
        let long = "t".repeat(32);
        let good = parse(&["--env", "production", "--admin-token", &long]);
        assert!(
            good.admin_token()
                .is_ok_and(|t| t.is_some_and(|t| t.matches(&long)))
        );
    }
}
