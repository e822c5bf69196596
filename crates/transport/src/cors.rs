//! CORS for the HTTP API and Socket.IO, with wildcard origins such as `https://*.vercel.app`.

use axum::http::{HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The allowed origins: exact ones, patterns with `*` inside the host, or `*` for any origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPatterns {
    patterns: Vec<String>,
}

impl OriginPatterns {
    /// Parses a comma-separated list (`DUET_CORS_ORIGINS`). Blank entries are ignored and a
    /// trailing `/` is dropped, since browsers never send one.
    pub fn parse(list: &str) -> Self {
        let patterns = list
            .split(',')
            .map(|p| p.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .collect();
        Self { patterns }
    }

    /// Whether `origin` (as a browser sends it) is allowed.
    ///
    /// ```
    /// use duet_transport::OriginPatterns;
    ///
    /// let origins = OriginPatterns::parse("http://localhost:3000, https://*.vercel.app");
    /// assert!(origins.allows("https://my-app-git-main.vercel.app"));
    /// assert!(origins.allows("http://localhost:3000"));
    /// assert!(!origins.allows("https://vercel.app"));
    /// assert!(!origins.allows("https://evil.com/.vercel.app"));
    /// ```
    pub fn allows(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.patterns
            .iter()
            .any(|pattern| pattern == "*" || matches_pattern(pattern, &origin))
    }

    /// The patterns as given.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// A tower-http CORS layer that answers only allowed origins, with credentials, for the
    /// methods and headers Duet's clients use.
    pub fn layer(&self) -> CorsLayer {
        let origins = self.clone();
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
                origin.to_str().is_ok_and(|o| origins.allows(o))
            }))
            .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .allow_credentials(true)
    }
}

/// `*` stands for one or more characters that cannot leave the host (no `/`, `:`, `@`).
fn matches_pattern(pattern: &str, origin: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return false;
    };
    let Some(mut rest) = origin.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = parts.collect();
    if pieces.is_empty() {
        return rest.is_empty();
    }
    for (index, piece) in pieces.iter().enumerate() {
        let last = index + 1 == pieces.len();
        let found = if last {
            rest.len()
                .checked_sub(piece.len())
                .filter(|at| rest[*at..] == **piece)
        } else {
            rest.get(1..).and_then(|r| r.find(piece)).map(|at| at + 1)
        };
        let Some(at) = found else { return false };
        let wildcard = &rest[..at];
        if wildcard.is_empty() || wildcard.contains(['/', ':', '@']) {
            return false;
        }
        rest = &rest[at + piece.len()..];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_stay_inside_the_host() {
        let o = OriginPatterns::parse("https://*.vercel.app,http://localhost:*");
        assert!(o.allows("https://a.vercel.app"));
        assert!(o.allows("https://a.b.vercel.app"));
        assert!(o.allows("HTTPS://A.VERCEL.APP"));
        assert!(!o.allows("https://.vercel.app"));
        assert!(!o.allows("http://a.vercel.app"));
        assert!(!o.allows("https://a.vercel.app.evil.com"));
        assert!(!o.allows("https://evil.com:1@x.vercel.app"));
        assert!(o.allows("http://localhost:5173"));
        assert!(!o.allows("http://localhost"));
    }

    #[test]
    fn star_allows_everything_and_exact_needs_equality() {
        assert!(OriginPatterns::parse("*").allows("https://anything.example"));
        let exact = OriginPatterns::parse("http://localhost:3000/");
        assert!(exact.allows("http://localhost:3000"));
        assert!(!exact.allows("http://localhost:30000"));
        assert!(OriginPatterns::parse(" , ").patterns().is_empty());
    }
}
