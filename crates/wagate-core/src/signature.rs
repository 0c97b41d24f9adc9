//! Signing webhook deliveries (§9.4, §15.6), two ways at once so receivers can use either:
//! EnviaAI's `x-enviaai-signature: sha256=<hex HMAC of the body>` and the Standard Webhooks
//! `webhook-signature: v1,<base64 HMAC of "id.timestamp.body">`. Both are keyed with the UTF-8
//! bytes of the secret string (`whs_…`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut m = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

/// The `x-enviaai-signature` value: `sha256=<hex>`.
pub fn enviaai_signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(secret, &[body])))
}

/// The `webhook-signature` value of the Standard Webhooks scheme: `v1,<base64>`.
pub fn standard_signature(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let sig = mac(
        secret,
        &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    format!("v1,{}", STANDARD.encode(sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enviaai_signature_is_the_hex_hmac_of_the_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            enviaai_signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn standard_signature_signs_id_timestamp_and_body() {
        let direct = STANDARD.encode(mac("Jefe", &[b"evt_1.1700000000.{}"]));
        assert_eq!(
            standard_signature("Jefe", "evt_1", 1_700_000_000, b"{}"),
            format!("v1,{direct}")
        );
    }
}
