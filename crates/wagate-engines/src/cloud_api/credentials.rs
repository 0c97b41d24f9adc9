//! Official-API credentials, parsed, and how they are kept at rest: sealed with
//! XChaCha20-Poly1305 under the server's secret key, bound to their instance, so the database
//! never holds an access token or app secret in clear text.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use wagate_core::InstanceId;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CredentialsError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{0} must be Meta's numeric id")]
    NotAnId(&'static str),
    #[error("{0} must be 16 to 4,096 visible characters without spaces")]
    BadSecret(&'static str),
}

impl CredentialsError {
    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            CredentialsError::Missing(f)
            | CredentialsError::NotAnId(f)
            | CredentialsError::BadSecret(f) => f,
        }
    }
}

/// A Meta object id (business account, phone number, media): digits only, so it is safe to put
/// in a Graph URL path.
fn numeric(field: &'static str, s: &str) -> Result<String, CredentialsError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(CredentialsError::Missing(field));
    }
    if s.len() > 32 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CredentialsError::NotAnId(field));
    }
    Ok(s.to_owned())
}

fn secret(field: &'static str, s: &str) -> Result<String, CredentialsError> {
    if s.is_empty() {
        return Err(CredentialsError::Missing(field));
    }
    if !(16..=4096).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CredentialsError::BadSecret(field));
    }
    Ok(s.to_owned())
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PhoneNumberId(String);

impl PhoneNumberId {
    pub fn parse(s: &str) -> Result<Self, CredentialsError> {
        numeric("phoneNumberId", s).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BusinessId(String);

impl BusinessId {
    pub fn parse(s: &str) -> Result<Self, CredentialsError> {
        numeric("businessId", s).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Defines a secret string whose `Debug` never shows it, so it cannot leak through a log line.
macro_rules! secret_string {
    ($name:ident, $field:literal) => {
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, CredentialsError> {
                secret($field, s).map(Self)
            }
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_string!(AccessToken, "accessToken");
secret_string!(AppSecret, "appSecret");

/// What `connect` with `method: official` is given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub business_id: BusinessId,
    pub phone_number_id: PhoneNumberId,
    pub access_token: AccessToken,
    /// Verifies this number's webhooks; the server-wide `WAGATE_META_APP_SECRET` when absent.
    pub app_secret: Option<AppSecret>,
}

impl Credentials {
    pub fn parse(
        business_id: Option<&str>,
        phone_number_id: Option<&str>,
        access_token: Option<&str>,
        app_secret: Option<&str>,
    ) -> Result<Self, CredentialsError> {
        Ok(Self {
            business_id: BusinessId::parse(business_id.unwrap_or(""))?,
            phone_number_id: PhoneNumberId::parse(phone_number_id.unwrap_or(""))?,
            access_token: AccessToken::parse(access_token.unwrap_or(""))?,
            app_secret: app_secret
                .filter(|s| !s.is_empty())
                .map(AppSecret::parse)
                .transpose()?,
        })
    }
}

/// The session an official instance saves: its credentials and who Meta said it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedSession {
    pub credentials: Credentials,
    pub phone: String,
    pub verified_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("the secret key must be 32 bytes, as 64 hex digits or base64")]
    Format,
    #[error("the secret key file {path}: {reason}")]
    File { path: String, reason: String },
}

/// The 32-byte key that seals credentials (`WAGATE_SECRET_KEY`, or a file in the data dir).
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// 64 hex digits, or the base64 of 32 bytes.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        let bytes = if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(s).map_err(|_| KeyError::Format)?
        } else {
            STANDARD.decode(s).map_err(|_| KeyError::Format)?
        };
        bytes.try_into().map(Self).map_err(|_| KeyError::Format)
    }

    pub fn generate() -> Self {
        Self(XChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    /// Reads the key file, or creates it (mode 0600) with a new key. Creating uses
    /// `create_new`, so two processes starting at once cannot each write a different key.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        let err = |reason: String| KeyError::File {
            path: path.display().to_string(),
            reason,
        };
        if let Ok(text) = std::fs::read_to_string(path) {
            return Self::parse(&text);
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        }
        let key = Self::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut f) => {
                writeln!(f, "{}", hex::encode(key.0)).map_err(|e| err(e.to_string()))?;
                Ok(key)
            }
            // Someone else created it meanwhile: theirs is the key.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
                Self::parse(&text)
            }
            Err(e) => Err(err(e.to_string())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SealError {
    #[error("not a sealed value of this version")]
    Format,
    /// Wrong key, another instance's value, or tampering.
    #[error("the value cannot be opened with this key")]
    Open,
}

const SEALED_PREFIX: &str = "wgs1:";

/// Seals and opens saved sessions. The instance id is the associated data, so a sealed value
/// copied to another instance's row does not open.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    pub fn new(key: &SecretKey) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&key.0.into()),
        }
    }

    pub fn seal(&self, instance: &InstanceId, session: &SavedSession) -> String {
        // Serialising plain strings cannot fail.
        let plain = serde_json::to_vec(session).unwrap_or_default();
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: &plain,
            aad: instance.as_str().as_bytes(),
        };
        // Encryption fails only for messages beyond 256 GiB.
        let sealed = self.cipher.encrypt(&nonce, payload).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{SEALED_PREFIX}{}", STANDARD.encode(out))
    }

    pub fn open(&self, instance: &InstanceId, sealed: &str) -> Result<SavedSession, SealError> {
        let raw = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .filter(|r| r.len() > 24)
            .ok_or(SealError::Format)?;
        let (nonce, body) = raw.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| SealError::Format)?;
        let payload = Payload {
            msg: body,
            aad: instance.as_str().as_bytes(),
        };
        let plain = self
            .cipher
            .decrypt(&XNonce::from(nonce), payload)
            .map_err(|_| SealError::Open)?;
        serde_json::from_slice(&plain).map_err(|_| SealError::Format)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "EAAGtesttoken0123456789";

    fn creds() -> Credentials {
        Credentials::parse(Some("1234"), Some("5678"), Some(TOKEN), None).unwrap()
    }

    #[test]
    fn credentials_are_parsed() {
        assert_eq!(
            Credentials::parse(None, Some("1"), Some(TOKEN), None),
            Err(CredentialsError::Missing("businessId"))
        );
        assert_eq!(
            Credentials::parse(Some("1"), Some("12/../x"), Some(TOKEN), None),
            Err(CredentialsError::NotAnId("phoneNumberId"))
        );
        assert_eq!(
            Credentials::parse(Some("1"), Some("2"), Some("short"), None),
            Err(CredentialsError::BadSecret("accessToken"))
        );
        assert!(!format!("{:?}", creds()).contains(TOKEN));
    }

    #[test]
    fn sealed_sessions_open_only_with_the_key_and_for_their_instance() {
        let key = SecretKey::generate();
        let sealer = Sealer::new(&key);
        let inst = InstanceId::generate();
        let saved = SavedSession {
            credentials: creds(),
            phone: "15550001111".into(),
            verified_name: Some("Shop".into()),
        };
        let sealed = sealer.seal(&inst, &saved);
        assert!(!sealed.contains(TOKEN));
        assert_eq!(sealer.open(&inst, &sealed), Ok(saved));
        assert_eq!(
            sealer.open(&InstanceId::generate(), &sealed),
            Err(SealError::Open)
        );
        let other = Sealer::new(&SecretKey::generate());
        assert_eq!(other.open(&inst, &sealed), Err(SealError::Open));
        assert_eq!(sealer.open(&inst, "garbage"), Err(SealError::Format));
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_persist() {
        let hex_key = "11".repeat(32);
        assert!(SecretKey::parse(&hex_key).is_ok());
        assert!(SecretKey::parse(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(SecretKey::parse("too short").is_err());
        let dir = std::env::temp_dir().join(format!("wagate-key-{}", ulid::Ulid::new()));
        let path = dir.join("secret.key");
        let a = SecretKey::load_or_create(&path).unwrap();
        let b = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(a.0, b.0);
        let _ = std::fs::remove_dir_all(dir);
    }
}
