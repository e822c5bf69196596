//! [`ProofOfWork`]: ALTCHA-compatible challenges that make creating sessions cost CPU time.
//!
//! The scheme is ALTCHA's (<https://altcha.org/docs/proof-of-work/>), so its widget and
//! libraries can solve Duet's challenges: the server picks a random `salt` (carrying its
//! expiry as `?expires=<unix seconds>`) and a secret `number` at most `maxnumber`, sends
//! `challenge = hex(SHA-256(salt + number))` with `signature = hex(HMAC-SHA-256(key,
//! challenge))`, and the client tries numbers from 0 until the hash matches: on average
//! `maxnumber / 2` hashes. Its answer is the base64 of `{algorithm, challenge, number, salt,
//! signature}`. Nothing is stored per challenge: the signature proves the server made it, the
//! salt says until when. That a solution is used once is the caller's part
//! ([`ModerationStore::claim_once`](crate::ModerationStore::claim_once) with
//! [`Solved::challenge`] until [`Solved::expires_at`]).
//!
//! (The `altcha-lib-rs` crate implements the same; it compares signatures in variable time, reads
//! the wall clock itself and would add chrono and a second `rand` to the build, so the scheme's
//! few lines are written here with constant-time verification.)

use std::time::Duration;

use base64::Engine;
use duet_core::Timestamp;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hex;

/// The only algorithm Duet issues and accepts, in ALTCHA's spelling.
pub const ALGORITHM: &str = "SHA-256";

/// The largest solution payload accepted, in bytes of base64 (a real one is about 300).
const MAX_PAYLOAD_BYTES: usize = 2048;

/// A challenge as `GET /api/guest/challenge` sends it (ALTCHA's JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Always [`ALGORITHM`].
    pub algorithm: String,
    /// `hex(SHA-256(salt + number))`.
    pub challenge: String,
    /// The largest number the solution can be.
    pub maxnumber: u64,
    /// Random hex, then `?expires=<unix seconds>`.
    pub salt: String,
    /// `hex(HMAC-SHA-256(key, challenge))`.
    pub signature: String,
}

/// A client's solution, decoded from its base64 payload.
#[derive(Debug, Clone, Deserialize)]
struct Solution {
    algorithm: String,
    challenge: String,
    number: u64,
    salt: String,
    signature: String,
}

/// A verified solution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solved {
    /// The challenge it solved: claim it once.
    pub challenge: String,
    /// When the challenge expires: the claim need not outlive it.
    pub expires_at: Timestamp,
}

/// Why a solution was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PowError {
    /// Not base64 of an ALTCHA JSON payload, or not `SHA-256`.
    #[error("the proof of work is not an ALTCHA SHA-256 payload")]
    Malformed,
    /// The salt carries no expiry, or it has passed.
    #[error("the challenge has expired")]
    Expired,
    /// The number does not solve the challenge, or the server did not sign it.
    #[error("the proof of work does not solve a challenge of this server")]
    Wrong,
}

/// Issues and verifies challenges with one secret key.
#[derive(Clone)]
pub struct ProofOfWork {
    mac: Hmac<Sha256>,
    max_number: u64,
    lifetime: Duration,
}

impl std::fmt::Debug for ProofOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofOfWork")
            .field("max_number", &self.max_number)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl ProofOfWork {
    /// Challenges signed with `key`, solved in at most `max_number + 1` hashes, valid for
    /// `lifetime`.
    pub fn new(key: &[u8], max_number: u64, lifetime: Duration) -> Self {
        Self {
            mac: Hmac::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key")),
            max_number,
            lifetime,
        }
    }

    /// The difficulty: the largest number a solution can be.
    pub fn max_number(&self) -> u64 {
        self.max_number
    }

    /// A fresh challenge issued at `now`.
    pub fn challenge(&self, now: Timestamp) -> Challenge {
        let expires = now.saturating_add(self.lifetime).unix_seconds();
        let salt = format!("{}?expires={expires}", hex(&rand::random::<[u8; 12]>()));
        let number = rand::random_range(0..=self.max_number);
        let challenge = hash(&salt, number);
        Challenge {
            algorithm: ALGORITHM.to_owned(),
            signature: hex(&self.sign(&challenge)),
            challenge,
            maxnumber: self.max_number,
            salt,
        }
    }

    /// Checks a client's base64 payload at `now`.
    pub fn verify(&self, payload: &str, now: Timestamp) -> Result<Solved, PowError> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(PowError::Malformed);
        }
        let json = base64::engine::general_purpose::STANDARD
            .decode(payload.trim())
            .map_err(|_| PowError::Malformed)?;
        let solution: Solution = serde_json::from_slice(&json).map_err(|_| PowError::Malformed)?;
        if solution.algorithm != ALGORITHM {
            return Err(PowError::Malformed);
        }
        let expires_at = expiry_of(&solution.salt).ok_or(PowError::Expired)?;
        if expires_at <= now {
            return Err(PowError::Expired);
        }
        let signature = unhex(&solution.signature).ok_or(PowError::Wrong)?;
        let mut mac = self.mac.clone();
        mac.update(solution.challenge.as_bytes());
        mac.verify_slice(&signature).map_err(|_| PowError::Wrong)?;
        if hash(&solution.salt, solution.number) != solution.challenge {
            return Err(PowError::Wrong);
        }
        Ok(Solved {
            challenge: solution.challenge,
            expires_at,
        })
    }

    fn sign(&self, challenge: &str) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(challenge.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// Finds the number that solves `challenge`, as a client does: the tests' and the load
/// generator's solver, and documentation of the scheme. `None` when no number up to
/// `challenge.maxnumber` does.
pub fn solve(challenge: &Challenge) -> Option<String> {
    let number =
        (0..=challenge.maxnumber).find(|n| hash(&challenge.salt, *n) == challenge.challenge)?;
    let payload = serde_json::json!({
        "algorithm": challenge.algorithm,
        "challenge": challenge.challenge,
        "number": number,
        "salt": challenge.salt,
        "signature": challenge.signature,
    });
    Some(base64::engine::general_purpose::STANDARD.encode(payload.to_string()))
}

fn hash(salt: &str, number: u64) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(number.to_string().as_bytes());
    hex(&hasher.finalize())
}

/// The `expires` parameter of a salt (`<random>?expires=<unix seconds>&...`).
fn expiry_of(salt: &str) -> Option<Timestamp> {
    let (_, params) = salt.split_once('?')?;
    let seconds: i64 = params
        .split('&')
        .find_map(|param| param.strip_prefix("expires="))?
        .parse()
        .ok()?;
    Some(Timestamp::from_unix_millis(seconds.checked_mul(1000)?))
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pow() -> ProofOfWork {
        ProofOfWork::new(b"key", 2_000, Duration::from_secs(60))
    }

    const NOW: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

    #[test]
    fn a_solved_challenge_verifies_until_it_expires() {
        let pow = pow();
        let challenge = pow.challenge(NOW);
        assert_eq!(challenge.algorithm, "SHA-256");
        assert!(challenge.salt.ends_with("?expires=1700000060"));
        let payload = solve(&challenge).expect("solvable");
        let solved = pow.verify(&payload, NOW).expect("valid");
        assert_eq!(solved.challenge, challenge.challenge);
        assert_eq!(
            solved.expires_at,
            Timestamp::from_unix_millis(1_700_000_060_000)
        );
        let later = NOW.saturating_add(Duration::from_secs(60));
        assert_eq!(pow.verify(&payload, later), Err(PowError::Expired));
    }

    #[test]
    fn wrong_numbers_foreign_signatures_and_garbage_are_refused() {
        let pow = pow();
        let challenge = pow.challenge(NOW);
        let encode = |value: serde_json::Value| {
            base64::engine::general_purpose::STANDARD.encode(value.to_string())
        };
        let number = (0..=challenge.maxnumber)
            .find(|n| hash(&challenge.salt, *n) == challenge.challenge)
            .expect("solvable");
        let with = |number: u64, signature: &str, salt: &str| {
            encode(
                serde_json::json!({"algorithm": "SHA-256", "challenge": challenge.challenge,
                "number": number, "salt": salt, "signature": signature}),
            )
        };
        let salt = challenge.salt.as_str();
        assert_eq!(
            pow.verify(&with(number + 1, &challenge.signature, salt), NOW),
            Err(PowError::Wrong)
        );
        assert_eq!(
            pow.verify(&with(number, &"0".repeat(64), salt), NOW),
            Err(PowError::Wrong)
        );
        assert_eq!(
            pow.verify(&with(number, "zz", salt), NOW),
            Err(PowError::Wrong)
        );
        // Another server's challenge.
        let foreign = ProofOfWork::new(b"other", 2_000, Duration::from_secs(60)).challenge(NOW);
        let foreign = solve(&foreign).expect("solvable");
        assert_eq!(pow.verify(&foreign, NOW), Err(PowError::Wrong));
        // A salt stripped of its expiry.
        let bare = salt.split('?').next().unwrap_or_default();
        assert_eq!(
            pow.verify(&with(number, &challenge.signature, bare), NOW),
            Err(PowError::Expired)
        );
        for garbage in ["", "not base64!", "e30=", &"A".repeat(4096)] {
            assert_eq!(
                pow.verify(garbage, NOW),
                Err(PowError::Malformed),
                "{garbage:?}"
            );
        }
    }
}
