//! What each fuzz target checks, as plain functions: `fuzz_targets/*.rs` hand them libFuzzer's
//! inputs, and the test below replays the saved corpus through them on stable, so CI needs
//! neither nightly nor a sanitizer. Each function panics only when a parser breaks a promise
//! (a panic of its own, or a value that parses but does not hold what its type says).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use wagate_core::message::{Content, Recipient};
use wagate_core::net::{TargetUrl, UrlPolicy, is_public_ip, special_purpose};
use wagate_core::phone::PhoneNumber;
use wagate_core::send::{ContentFields, MAX_CAPTION, MAX_TEXT, SendRules};
use wagate_core::{AccountId, ChatId, InstanceId, MessageId, WebhookId};

const STRICT: UrlPolicy = UrlPolicy {
    allow_private: false,
};
const LOOSE: UrlPolicy = UrlPolicy {
    allow_private: true,
};

/// Phone numbers, recipients and prefixed ids: what parses is what was given, and parses again.
pub fn identifiers(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = PhoneNumber::parse(s) {
        assert_eq!(p.as_str(), s);
        assert!((8..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()));
    }
    if let Ok(r) = Recipient::parse(s) {
        assert_eq!(r.as_str(), s);
        assert_eq!(Recipient::parse(r.as_str()).ok(), Some(r));
    }
    macro_rules! id {
        ($t:ty) => {
            if let Ok(id) = <$t>::parse(s) {
                assert_eq!(<$t>::parse(id.as_str()).ok(), Some(id));
            }
        };
    }
    id!(InstanceId);
    id!(MessageId);
    id!(ChatId);
    id!(AccountId);
    id!(WebhookId);
}

/// URLs and the address policy: a URL the strict policy takes is https, has no credentials and
/// no special-purpose address literal, and parses again to itself; an address is public exactly
/// when it is in no special-purpose block.
pub fn target_url(data: &[u8]) {
    if data.len() >= 16 {
        let v6 = IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(&data[..16]).unwrap_or([0; 16]),
        ));
        let v4 = IpAddr::V4(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        for ip in [v4, v6] {
            assert_eq!(is_public_ip(ip), special_purpose(ip).is_none());
        }
    }
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(u) = TargetUrl::parse(s, STRICT) {
        assert!(u.as_str().starts_with("https://"), "{}", u.as_str());
        assert!(
            u.as_str().len() <= TargetUrl::MAX_LEN + 64,
            "normalising barely grows it"
        );
        assert_eq!(
            TargetUrl::parse(u.as_str(), STRICT).map(|again| again.as_str().to_owned()),
            Ok(u.as_str().to_owned())
        );
        assert!(
            TargetUrl::parse(s, LOOSE).is_ok(),
            "loose takes what strict takes"
        );
    }
}

/// The content of a send, from any JSON body: parsing never panics, and what it accepts keeps
/// §15.5's limits.
pub fn content(data: &[u8]) {
    let Ok(fields) = serde_json::from_slice::<ContentFields>(data) else {
        return;
    };
    for rules in [
        SendRules::for_contact(STRICT),
        SendRules::for_connection(LOOSE, None),
    ] {
        match fields.clone().parse(&rules) {
            Ok(Content::Text(text)) => {
                assert!(!text.is_empty() && text.chars().count() <= MAX_TEXT);
            }
            Ok(Content::Media(m)) => {
                let caption = m.caption.as_deref().unwrap_or("");
                assert!(caption.chars().count() <= MAX_CAPTION);
                assert!(m.url.starts_with("http"), "{}", m.url);
            }
            Ok(_) | Err(_) => {}
        }
    }
}

/// Meta's webhook payload: any body parses or is refused, never panics.
pub fn meta_webhook(data: &[u8]) {
    let _ = wagate_engines::cloud_api::webhook::parse(data);
}

#[cfg(test)]
mod corpus {
    use std::path::Path;

    /// Replays `corpus/<target>/*` (the seeds, and what `cargo fuzz run` added and was kept).
    fn replay(target: &str, check: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(target);
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            check(&std::fs::read(&path).unwrap());
            n += 1;
        }
        assert!(n > 0, "{} holds no inputs", dir.display());
    }

    #[test]
    fn identifiers() {
        replay("identifiers", super::identifiers);
    }

    #[test]
    fn target_url() {
        replay("target_url", super::target_url);
    }

    #[test]
    fn content() {
        replay("content", super::content);
    }

    #[test]
    fn meta_webhook() {
        replay("meta_webhook", super::meta_webhook);
    }
}
