//! Inbound webhook URLs (§9.10, §15.7): a secret URL that sends messages from one instance
//! without an API key. Only the token's SHA-256 is kept, as for API keys.

use sha2::{Digest, Sha256};

use crate::api_key::random_hex;
use crate::{AccountId, InboundWebhookId, InstanceId, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundWebhook {
    pub id: InboundWebhookId,
    pub account_id: AccountId,
    pub instance_id: InstanceId,
    pub name: String,
    pub token_hash: String,
    pub created_at: Timestamp,
}

/// The token in the URL: `wh_` + 256 random bits (the documented URLs look like `…/webhook/wh_…`).
pub fn generate_token() -> String {
    format!("wh_{}", random_hex(32))
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
