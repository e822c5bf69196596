//! WebRTC signaling rules for [Duet](https://github.com/duet-chat/duet), with no Socket.IO in
//! sight.
//!
//! - [`Signal`]: the typed payloads of `webrtc:offer`, `webrtc:answer`,
//!   `webrtc:ice-candidate` and `webrtc:hangup`, checked by [`Signal::parse`] (an SDP is at
//!   most 64 KiB, candidate fields are bounded).
//! - [`relay_target`]: the rule that the server, never the client, picks who receives a signal:
//!   the sender's current partner.
//! - [`IceConfig`]: the ICE servers handed to clients, from `DUET_STUN_URLS` / `DUET_TURN_URLS`,
//!   with TURN REST credentials exactly as coturn's `use-auth-secret` expects: username
//!   `"<unix expiry>:<guest id>"`, credential `base64(HMAC-SHA1(secret, username))`.
//!
//! # Example
//!
//! ```
//! use duet_signaling::{IceConfig, Signal, SignalKind, relay_target};
//! use serde_json::json;
//!
//! let offer = Signal::parse(SignalKind::Offer, &json!({"sdp": "v=0\r\n..."}))?;
//! assert!(matches!(offer, Signal::Offer { .. }));
//!
//! // Only the partner may receive it, whatever the client asked for.
//! assert_eq!(relay_target("ada", Some(["ada", "bob"])), Some("bob"));
//! assert_eq!(relay_target("eve", Some(["ada", "bob"])), None);
//! assert_eq!(relay_target("ada", None), None);
//!
//! let ice = IceConfig::from_lists("stun:stun.example.org:3478", "turn:turn.example.org:3478", Some("s3cret"));
//! let servers = ice.servers_for("guest-1", 1_800_000_000);
//! assert_eq!(servers[1].username.as_deref(), Some("1800000000:guest-1"));
//! # Ok::<(), duet_signaling::SignalError>(())
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
pub use duet_core::ErrorCode;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha1::Sha1;

/// The largest SDP accepted, in UTF-8 bytes.
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// The largest ICE candidate line accepted, in bytes (real ones are about 100).
pub const MAX_CANDIDATE_BYTES: usize = 2048;
/// The largest `sdpMid` or `usernameFragment`, in bytes.
pub const MAX_CANDIDATE_FIELD_BYTES: usize = 256;

/// Which signaling event a payload belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    /// `webrtc:offer`
    Offer,
    /// `webrtc:answer`
    Answer,
    /// `webrtc:ice-candidate`
    IceCandidate,
    /// `webrtc:hangup`
    Hangup,
}

impl SignalKind {
    /// The Socket.IO event name.
    pub const fn event(self) -> &'static str {
        match self {
            Self::Offer => "webrtc:offer",
            Self::Answer => "webrtc:answer",
            Self::IceCandidate => "webrtc:ice-candidate",
            Self::Hangup => "webrtc:hangup",
        }
    }
}

/// An `RTCIceCandidateInit` as browsers send it; `null` fields count as absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    /// The candidate line (may be empty: the end-of-candidates marker).
    pub candidate: String,
    /// The media stream identification tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    /// The index of the m-line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_m_line_index: Option<u16>,
    /// The ICE username fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// A checked signaling payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// An SDP offer.
    Offer {
        /// The SDP.
        sdp: String,
    },
    /// An SDP answer.
    Answer {
        /// The SDP.
        sdp: String,
    },
    /// A trickled ICE candidate.
    IceCandidate(IceCandidate),
    /// The call is over.
    Hangup,
}

/// Why a signaling payload was refused; [`SignalError::code`] gives the wire code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// Not of the documented shape.
    #[error("the {0} payload is not of the documented shape")]
    InvalidPayload(&'static str),
    /// An SDP over [`MAX_SDP_BYTES`] or a candidate over its bounds.
    #[error("the {0} payload is too large")]
    TooLarge(&'static str),
}

impl SignalError {
    /// `INVALID_PAYLOAD` or `PAYLOAD_TOO_LARGE`.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidPayload(_) => ErrorCode::InvalidPayload,
            Self::TooLarge(_) => ErrorCode::PayloadTooLarge,
        }
    }
}

impl Signal {
    /// Checks `payload` for the event `kind`. Unknown fields are ignored; a hangup takes no
    /// payload and ignores any.
    ///
    /// The payload and its candidate must be JSON objects: an array is refused even where
    /// its items would line up with the fields (`["v=0..."]` is not `{"sdp": "v=0..."}`).
    pub fn parse(kind: SignalKind, payload: &Value) -> Result<Self, SignalError> {
        let event = kind.event();
        let invalid = || SignalError::InvalidPayload(event);
        let field = |name: &str| payload.as_object().and_then(|fields| fields.get(name));
        match kind {
            SignalKind::Hangup => Ok(Self::Hangup),
            SignalKind::Offer | SignalKind::Answer => {
                let Some(Value::String(sdp)) = field("sdp") else {
                    return Err(invalid());
                };
                let sdp = sdp.clone();
                if sdp.len() > MAX_SDP_BYTES {
                    return Err(SignalError::TooLarge(event));
                }
                if sdp.trim().is_empty() {
                    return Err(invalid());
                }
                Ok(if kind == SignalKind::Offer {
                    Self::Offer { sdp }
                } else {
                    Self::Answer { sdp }
                })
            }
            SignalKind::IceCandidate => {
                let Some(candidate @ Value::Object(_)) = field("candidate") else {
                    return Err(invalid());
                };
                let candidate = IceCandidate::deserialize(candidate).map_err(|_| invalid())?;
                let field_too_long = |f: &Option<String>| {
                    f.as_ref()
                        .is_some_and(|v| v.len() > MAX_CANDIDATE_FIELD_BYTES)
                };
                if candidate.candidate.len() > MAX_CANDIDATE_BYTES
                    || field_too_long(&candidate.sdp_mid)
                    || field_too_long(&candidate.username_fragment)
                {
                    return Err(SignalError::TooLarge(event));
                }
                Ok(Self::IceCandidate(candidate))
            }
        }
    }

    /// Which event this is.
    pub const fn kind(&self) -> SignalKind {
        match self {
            Self::Offer { .. } => SignalKind::Offer,
            Self::Answer { .. } => SignalKind::Answer,
            Self::IceCandidate(_) => SignalKind::IceCandidate,
            Self::Hangup => SignalKind::Hangup,
        }
    }

    /// What the partner receives: `{"from", "sdp"}`, `{"from", "candidate"}` or `{"from"}`.
    pub fn relayed<F: Serialize>(&self, from: F) -> Relayed<'_, F> {
        Relayed { from, signal: self }
    }
}

/// A signal as the partner receives it, serialized straight from the checked [`Signal`].
#[derive(Debug, Clone, Copy)]
pub struct Relayed<'a, F> {
    from: F,
    signal: &'a Signal,
}

impl<F> Relayed<'_, F> {
    /// The event the partner receives it as.
    pub const fn event(&self) -> &'static str {
        self.signal.kind().event()
    }
}

impl<F: Serialize> Serialize for Relayed<'_, F> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let fields = if matches!(self.signal, Signal::Hangup) {
            1
        } else {
            2
        };
        let mut map = serializer.serialize_map(Some(fields))?;
        map.serialize_entry("from", &self.from)?;
        match self.signal {
            Signal::Offer { sdp } | Signal::Answer { sdp } => map.serialize_entry("sdp", sdp)?,
            Signal::IceCandidate(candidate) => map.serialize_entry("candidate", candidate)?,
            Signal::Hangup => {}
        }
        map.end()
    }
}

/// Who receives a signal from `sender`: the other guest of its current pair, or nobody (no
/// pair, or a pair `sender` is not in). The client's payload has no say: any `to`, `room` or
/// `target` field it sends is ignored by construction.
pub fn relay_target<G: PartialEq + Copy>(sender: G, pair: Option<[G; 2]>) -> Option<G> {
    match pair? {
        [a, b] if a == sender && b != sender => Some(b),
        [a, b] if b == sender && a != sender => Some(a),
        _ => None,
    }
}

/// An `RTCIceServer`: `{"urls", "username"?, "credential"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// The server URLs.
    pub urls: Vec<String>,
    /// The TURN username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The TURN credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// The ICE servers a deployment hands to clients.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IceConfig {
    /// STUN URLs (no credentials).
    pub stun_urls: Vec<String>,
    /// TURN URLs.
    pub turn_urls: Vec<String>,
    /// The TURN REST shared secret (coturn `static-auth-secret`); without it TURN URLs are
    /// handed out without credentials.
    pub turn_secret: Option<String>,
}

impl std::fmt::Debug for IceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceConfig")
            .field("stun_urls", &self.stun_urls)
            .field("turn_urls", &self.turn_urls)
            .field(
                "turn_secret",
                &self.turn_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

fn split_urls(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect()
}

impl IceConfig {
    /// From the comma-separated lists of `DUET_STUN_URLS` and `DUET_TURN_URLS` and the secret of
    /// `DUET_TURN_SECRET` (an empty secret counts as none).
    pub fn from_lists(stun_urls: &str, turn_urls: &str, turn_secret: Option<&str>) -> Self {
        Self {
            stun_urls: split_urls(stun_urls),
            turn_urls: split_urls(turn_urls),
            turn_secret: turn_secret
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        }
    }

    /// The servers for `guest`, with TURN credentials valid until `expires_unix` (the guest
    /// session's expiry).
    pub fn servers_for(&self, guest: &str, expires_unix: i64) -> Vec<IceServer> {
        let mut servers = Vec::new();
        if !self.stun_urls.is_empty() {
            servers.push(IceServer {
                urls: self.stun_urls.clone(),
                username: None,
                credential: None,
            });
        }
        if !self.turn_urls.is_empty() {
            let (username, credential) = match &self.turn_secret {
                Some(secret) => {
                    let (user, credential) = turn_credentials(secret, guest, expires_unix);
                    (Some(user), Some(credential))
                }
                None => (None, None),
            };
            servers.push(IceServer {
                urls: self.turn_urls.clone(),
                username,
                credential,
            });
        }
        servers
    }
}

/// TURN REST API credentials (draft-uberti-behave-turn-rest, as coturn's `use-auth-secret`):
/// username `"<expires_unix>:<guest>"`, credential `base64(HMAC-SHA1(secret, username))`.
pub fn turn_credentials(secret: &str, guest: &str, expires_unix: i64) -> (String, String) {
    let username = format!("{expires_unix}:{guest}");
    let credential = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(username.as_bytes());
            STANDARD.encode(mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length; this arm exists only to stay total.
        Err(_) => String::new(),
    };
    (username, credential)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn turn_credentials_match_a_known_vector() {
        // Computed independently: printf '1700000000:guest' | openssl dgst -sha1 -hmac secret -binary | base64
        let (user, credential) = turn_credentials("secret", "guest", 1_700_000_000);
        assert_eq!(user, "1700000000:guest");
        assert_eq!(credential, "0E+zln9C5pxZj/fzu1t1MU900I4=");
    }

    #[test]
    fn sdp_is_bounded_and_must_be_a_string() {
        let ok = Signal::parse(SignalKind::Answer, &json!({"sdp": "v=0", "to": "someone"}));
        assert_eq!(ok, Ok(Signal::Answer { sdp: "v=0".into() }));
        let big = "a".repeat(MAX_SDP_BYTES + 1);
        let err = Signal::parse(SignalKind::Offer, &json!({"sdp": big})).err();
        assert_eq!(err.map(|e| e.code()), Some(ErrorCode::PayloadTooLarge));
        let exact = "a".repeat(MAX_SDP_BYTES);
        assert!(Signal::parse(SignalKind::Offer, &json!({"sdp": exact})).is_ok());
        for bad in [
            json!({"sdp": 5}),
            json!({}),
            json!("v=0"),
            json!(null),
            json!({"sdp": " "}),
            json!(["v=0"]),
            json!([{"sdp": "v=0"}]),
        ] {
            let err = Signal::parse(SignalKind::Offer, &bad).err();
            assert_eq!(
                err.map(|e| e.code()),
                Some(ErrorCode::InvalidPayload),
                "{bad}"
            );
        }
    }

    #[test]
    fn candidates_accept_browser_nulls_and_refuse_junk() {
        let browser = json!({"candidate": {"candidate": "candidate:1 1 udp 1 1.2.3.4 5 typ host", "sdpMid": null, "sdpMLineIndex": 0, "usernameFragment": null}});
        let Ok(Signal::IceCandidate(c)) = Signal::parse(SignalKind::IceCandidate, &browser) else {
            panic!("browser candidate refused");
        };
        assert_eq!((c.sdp_mid, c.sdp_m_line_index), (None, Some(0)));
        let signal = Signal::IceCandidate(IceCandidate {
            candidate: "c".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: None,
            username_fragment: None,
        });
        assert_eq!(signal.relayed("g").event(), "webrtc:ice-candidate");
        assert_eq!(
            serde_json::to_value(signal.relayed("g")).ok(),
            Some(json!({"from": "g", "candidate": {"candidate": "c", "sdpMid": "0"}}))
        );
        for bad in [
            json!({"candidate": "x"}),
            json!({"candidate": {"sdpMid": "0"}}),
            json!({"candidate": {"candidate": "c", "sdpMLineIndex": -1}}),
            json!({"candidate": ["c"]}),
            json!([{"candidate": "c"}]),
        ] {
            let err = Signal::parse(SignalKind::IceCandidate, &bad).err();
            assert_eq!(
                err.map(|e| e.code()),
                Some(ErrorCode::InvalidPayload),
                "{bad}"
            );
        }
        let long = json!({"candidate": {"candidate": "c".repeat(MAX_CANDIDATE_BYTES + 1)}});
        assert_eq!(
            Signal::parse(SignalKind::IceCandidate, &long)
                .err()
                .map(|e| e.code()),
            Some(ErrorCode::PayloadTooLarge)
        );
    }

    #[test]
    fn only_the_senders_partner_is_a_target() {
        assert_eq!(relay_target(1, Some([1, 2])), Some(2));
        assert_eq!(relay_target(2, Some([1, 2])), Some(1));
        assert_eq!(relay_target(3, Some([1, 2])), None, "not in the pair");
        assert_eq!(relay_target(1, Some([1, 1])), None, "never to itself");
        assert_eq!(relay_target(1, None), None, "no pair");
    }

    #[test]
    fn ice_servers_follow_the_configuration() {
        assert!(IceConfig::default().servers_for("g", 1).is_empty());
        let stun_only = IceConfig::from_lists("stun:a:3478, stun:b:3478", "", Some("s"));
        let servers = stun_only.servers_for("g", 1);
        assert_eq!(servers.len(), 1);
        assert_eq!(servers[0].urls, vec!["stun:a:3478", "stun:b:3478"]);
        assert_eq!(
            serde_json::to_value(&servers[0]).ok(),
            Some(json!({"urls": ["stun:a:3478", "stun:b:3478"]}))
        );
        let turn = IceConfig::from_lists("", "turn:t:3478?transport=udp", Some("secret"));
        let servers = turn.servers_for("guest", 1_700_000_000);
        assert_eq!(
            servers[0].credential.as_deref(),
            Some("0E+zln9C5pxZj/fzu1t1MU900I4=")
        );
        let no_secret = IceConfig::from_lists("", "turn:t", Some(" "));
        assert_eq!(no_secret.servers_for("g", 1)[0].username, None);
        assert!(!format!("{turn:?}").contains("secret\""));
    }
}
