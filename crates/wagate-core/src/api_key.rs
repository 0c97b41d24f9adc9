//! API keys (§15.1, §15.3): `wgk_<key ulid>_<secret>`, shown once, stored only as SHA-256 of the
//! secret. The key id inside the token makes look-up a primary-key read instead of a scan.

use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::account::DisplayName;
use crate::scope::Scopes;
use crate::{AccountId, ApiKeyId, Timestamp};

const TOKEN_PREFIX: &str = "wgk_";

/// The stored form of a key. The secret itself is never kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub account_id: AccountId,
    pub name: DisplayName,
    pub scopes: Scopes,
    #[serde(skip)]
    pub secret_hash: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// Why a well-formed key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum KeyRefusal {
    #[error("the API key is invalid or has been revoked")]
    Invalid,
    #[error("the API key has expired")]
    Expired,
}

impl ApiKey {
    /// Checks a presented secret against this key at time `now`.
    pub fn verify(&self, secret: &str, now: Timestamp) -> Result<(), KeyRefusal> {
        let presented = hash_secret(secret);
        if !bool::from(presented.as_bytes().ct_eq(self.secret_hash.as_bytes())) {
            return Err(KeyRefusal::Invalid);
        }
        self.usable(now)
    }

    /// Whether the key may still be used at `now` (not revoked, not expired), its secret
    /// checked already: by another node, for a request it carried here (§19).
    pub fn usable(&self, now: Timestamp) -> Result<(), KeyRefusal> {
        if self.revoked_at.is_some() {
            return Err(KeyRefusal::Invalid);
        }
        match self.expires_at {
            Some(at) if at <= now => Err(KeyRefusal::Expired),
            _ => Ok(()),
        }
    }
}

/// A freshly generated key: the full token (to show once) and its hash (to store).
pub struct NewKeySecret {
    pub id: ApiKeyId,
    pub token: String,
    pub secret_hash: String,
}

impl NewKeySecret {
    pub fn generate() -> Self {
        let id = ApiKeyId::generate();
        let secret = random_hex(32);
        let token = format!("{TOKEN_PREFIX}{}_{secret}", id.ulid_part());
        Self {
            secret_hash: hash_secret(&secret),
            id,
            token,
        }
    }
}

/// A presented bearer token split into the key id and the secret; says nothing yet about validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedKey {
    pub id: ApiKeyId,
    pub secret: String,
}

impl PresentedKey {
    pub fn parse(token: &str) -> Option<Self> {
        let rest = token.strip_prefix(TOKEN_PREFIX)?;
        let (ulid, secret) = rest.split_once('_')?;
        let id = ApiKeyId::parse(&format!("{}{ulid}", ApiKeyId::PREFIX)).ok()?;
        (!secret.is_empty()).then(|| Self {
            id,
            secret: secret.to_owned(),
        })
    }
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// `n` random bytes from the OS generator, hex-encoded.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Constant-time equality of two secrets (admin token, webhook secrets).
pub fn secrets_equal(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::AccountName;

    fn key_from(new: &NewKeySecret) -> ApiKey {
        ApiKey {
            id: new.id.clone(),
            account_id: AccountId::generate(),
            name: AccountName::parse("k").unwrap(),
            scopes: Scopes::all(),
            secret_hash: new.secret_hash.clone(),
            created_at: Timestamp::now(),
            expires_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn token_carries_its_id_and_verifies() {
        let new = NewKeySecret::generate();
        let presented = PresentedKey::parse(&new.token).unwrap();
        assert_eq!(presented.id, new.id);
        let key = key_from(&new);
        assert_eq!(key.verify(&presented.secret, Timestamp::now()), Ok(()));
        assert_eq!(
            key.verify("nope", Timestamp::now()),
            Err(KeyRefusal::Invalid)
        );
        assert!(!new.token.contains(&new.secret_hash));
    }

    #[test]
    fn revoked_and_expired_keys_are_refused() {
        let new = NewKeySecret::generate();
        let secret = PresentedKey::parse(&new.token).unwrap().secret;
        let now = Timestamp::now();
        let mut key = key_from(&new);
        key.expires_at = Some(now);
        assert_eq!(key.verify(&secret, now), Err(KeyRefusal::Expired));
        key.expires_at = None;
        key.revoked_at = Some(now);
        assert_eq!(key.verify(&secret, now), Err(KeyRefusal::Invalid));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for bad in [
            "",
            "wgk_",
            "wgk_abc_def",
            "Bearer x",
            "wgk_01jd3k9w6q8x2m4v7c5b0n1t2r_",
        ] {
            assert!(PresentedKey::parse(bad).is_none(), "{bad}");
        }
    }
}
