//! Target-URL policy (§15.6): which webhook and media URLs wagate may call.
//!
//! The pure part lives here: scheme rules and which IP addresses count as public. Name resolution is
//! I/O and happens in the server, which applies `is_public_ip` to every address a name resolves to,
//! at save time and again before each delivery (a name can change its address).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;
use thiserror::Error;
use url::{Host, Url};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrlPolicy {
    /// `WAGATE_WEBHOOK_ALLOW_PRIVATE=true`: plain http and private addresses are allowed.
    pub allow_private: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UrlError {
    #[error("not an absolute URL")]
    Malformed,
    #[error("the URL is longer than {} characters", TargetUrl::MAX_LEN)]
    TooLong,
    #[error("only http and https URLs are allowed")]
    Scheme,
    #[error("the URL must use https")]
    NotHttps,
    #[error("the URL must not carry a user name or password")]
    Credentials,
    #[error("the URL points to a private, loopback or link-local address")]
    PrivateAddress,
}

/// A URL that passed the static checks of a policy. Names still need resolving before each use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TargetUrl(String);

impl TargetUrl {
    /// What browsers and proxies reliably pass along.
    pub const MAX_LEN: usize = 2_048;

    pub fn parse(s: &str, policy: UrlPolicy) -> Result<Self, UrlError> {
        if s.len() > Self::MAX_LEN {
            return Err(UrlError::TooLong);
        }
        let url = Url::parse(s.trim()).map_err(|_| UrlError::Malformed)?;
        match url.scheme() {
            "https" => {}
            "http" if policy.allow_private => {}
            "http" => return Err(UrlError::NotHttps),
            _ => return Err(UrlError::Scheme),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        let host = url.host().ok_or(UrlError::Malformed)?;
        if !policy.allow_private {
            let public = match host {
                Host::Ipv4(ip) => is_public_ip(IpAddr::V4(ip)),
                Host::Ipv6(ip) => is_public_ip(IpAddr::V6(ip)),
                Host::Domain(d) => !is_local_name(d),
            };
            if !public {
                return Err(UrlError::PrivateAddress);
            }
        }
        // The limit is on the URL as kept and sent: parsing percent-encodes what a URL may not
        // hold as it is, which can triple its length (the fuzzer found NULs doing so).
        let normalized = url.to_string();
        if normalized.len() > Self::MAX_LEN {
            return Err(UrlError::TooLong);
        }
        Ok(Self(normalized))
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host name to resolve, when the host is a name rather than an address literal.
    pub fn domain(&self) -> Option<String> {
        Url::parse(&self.0)
            .ok()
            .and_then(|u| u.domain().map(str::to_owned))
    }
}

fn is_local_name(d: &str) -> bool {
    let d = d.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost"
        || d.ends_with(".localhost")
        || d.ends_with(".local")
        || d.ends_with(".internal")
}

/// True for addresses on the public Internet: those in no block of the special-purpose tables
/// below (loopback, private, link-local with the cloud metadata address 169.254.169.254, CGNAT,
/// transition forms that embed another address, documentation, multicast, reserved, …).
pub fn is_public_ip(ip: IpAddr) -> bool {
    special_purpose(ip).is_none()
}

/// The registry name of the special-purpose block `ip` lies in (the most specific one, so
/// 255.255.255.255 is "Limited Broadcast", not "Reserved"), or `None` for a public address.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => {
            most_specific(V4_SPECIAL, ip.to_bits().into(), 32, |a| a.to_bits().into())
        }
        IpAddr::V6(ip) => most_specific(V6_SPECIAL, ip.to_bits(), 128, Ipv6Addr::to_bits),
    }
}

/// One registry row: the block's first address, its prefix length and its registry name.
type Block<A> = (A, u32, &'static str);

fn most_specific<A: Copy>(
    table: &[Block<A>],
    addr: u128,
    width: u32,
    bits: fn(A) -> u128,
) -> Option<&'static str> {
    table
        .iter()
        .filter(|&&(net, len, _)| in_block(addr, bits(net), len, width))
        .max_by_key(|&&(_, len, _)| len)
        .map(|&(_, _, name)| name)
}

/// Whether `addr` and `net` (both `width` bits wide) agree on their first `len` bits. Shifting out
/// the host part leaves the prefix; a /0 shifts everything out (`checked_shr` gives `None`).
fn in_block(addr: u128, net: u128, len: u32, width: u32) -> bool {
    (addr ^ net).checked_shr(width - len).unwrap_or(0) == 0
}

/// The IANA IPv4 Special-Purpose Address Registry (RFC 6890 and its updates), plus multicast
/// from the IPv4 Address Space Registry. Every block is refused, also those the registry marks
/// globally reachable: they hold anycast services (AS112 DNS sinks, AMT relays, PCP and TURN
/// anycast 192.0.0.9 and 192.0.0.10 inside 192.0.0.0/24) that no webhook or media URL points to,
/// so refusing whole blocks costs nothing and keeps the table a plain copy of the registry.
#[rustfmt::skip] // a table, read by columns
const V4_SPECIAL: &[Block<Ipv4Addr>] = &[
    (Ipv4Addr::new(0, 0, 0, 0),         8,  "This network"),                    // RFC 791; 0.0.0.0/32: RFC 1122
    (Ipv4Addr::new(10, 0, 0, 0),        8,  "Private-Use"),                     // RFC 1918
    (Ipv4Addr::new(100, 64, 0, 0),      10, "Shared Address Space"),            // RFC 6598 (CGNAT)
    (Ipv4Addr::new(127, 0, 0, 0),       8,  "Loopback"),                        // RFC 1122
    (Ipv4Addr::new(169, 254, 0, 0),     16, "Link Local"),                      // RFC 3927
    (Ipv4Addr::new(172, 16, 0, 0),      12, "Private-Use"),                     // RFC 1918
    (Ipv4Addr::new(192, 0, 0, 0),       24, "IETF Protocol Assignments"),       // RFC 6890
    (Ipv4Addr::new(192, 0, 2, 0),       24, "Documentation (TEST-NET-1)"),      // RFC 5737
    (Ipv4Addr::new(192, 31, 196, 0),    24, "AS112-v4"),                        // RFC 7535
    (Ipv4Addr::new(192, 52, 193, 0),    24, "AMT"),                             // RFC 7450
    (Ipv4Addr::new(192, 88, 99, 0),     24, "Deprecated (6to4 Relay Anycast)"), // RFC 7526
    (Ipv4Addr::new(192, 168, 0, 0),     16, "Private-Use"),                     // RFC 1918
    (Ipv4Addr::new(192, 175, 48, 0),    24, "Direct Delegation AS112 Service"), // RFC 7534
    (Ipv4Addr::new(198, 18, 0, 0),      15, "Benchmarking"),                    // RFC 2544
    (Ipv4Addr::new(198, 51, 100, 0),    24, "Documentation (TEST-NET-2)"),      // RFC 5737
    (Ipv4Addr::new(203, 0, 113, 0),     24, "Documentation (TEST-NET-3)"),      // RFC 5737
    (Ipv4Addr::new(224, 0, 0, 0),       4,  "Multicast"),                       // RFC 5771
    (Ipv4Addr::new(240, 0, 0, 0),       4,  "Reserved"),                        // RFC 1112
    (Ipv4Addr::new(255, 255, 255, 255), 32, "Limited Broadcast"),               // RFC 919, RFC 8190
];

/// The IANA IPv6 Special-Purpose Address Registry (RFC 6890 and its updates), plus the blocks of
/// the IPv6 Address Space Registry that are not global unicast.
///
/// Forms that embed an IPv4 address (mapped, compatible, translated, NAT64, 6to4) or tunnel to
/// one (Teredo) are refused whole rather than decoded and checked against the IPv4 table: where
/// such a packet really goes depends on the host's stack and on gateways we cannot see (a NAT64
/// or 6to4 relay inside the deployment's network), and a public IPv4 target is reached by its
/// IPv4 address anyway. (Decoding would be sound only for ::ffff:0:0/96, which the local stack
/// itself turns into IPv4; it is refused too, so that one rule covers every embedding.) The cost:
/// on an IPv6-only network with DNS64, names of IPv4-only hosts resolve into 64:ff9b::/96 and
/// are refused.
///
/// 2001::/23 is refused whole, with the few sub-blocks the registry marks globally reachable
/// (PCP, TURN and DNS-SD anycast 2001:1::1-3, AMT 2001:3::/32, AS112-v6 2001:4:112::/48,
/// ORCHIDv2 2001:20::/28, DRIP 2001:30::/28): none of them serves webhooks or media.
#[rustfmt::skip] // a table, read by columns
const V6_SPECIAL: &[Block<Ipv6Addr>] = &[
    // Outside 2000::/3 nothing is global unicast (RFC 4291 §2.4; the IPv6 Address Space
    // Registry says "Reserved by IETF" or names a local use). These three rows catch what the
    // named rows do not, such as blocks assigned after this table was written (as 5f00::/16 was).
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),              3,   "Reserved by IETF"),                // RFC 4291
    (Ipv6Addr::new(0x4000, 0, 0, 0, 0, 0, 0, 0),         2,   "Reserved by IETF"),                // RFC 4291
    (Ipv6Addr::new(0x8000, 0, 0, 0, 0, 0, 0, 0),         1,   "Reserved by IETF"),                // RFC 4291
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),              128, "Unspecified Address"),             // RFC 4291
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1),              128, "Loopback Address"),                // RFC 4291
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),              96,  "IPv4-compatible (deprecated)"),    // RFC 4291 §2.5.5.1
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0),         96,  "IPv4-mapped Address"),             // RFC 4291
    (Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0),         96,  "IPv4-translated Address"),         // RFC 2765 §2.1
    (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0),      96,  "IPv4-IPv6 Translat."),             // RFC 6052 (NAT64)
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),      48,  "IPv4-IPv6 Translat."),             // RFC 8215 (local use)
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),          64,  "Discard-Only Address Block"),      // RFC 6666
    (Ipv6Addr::new(0x100, 0, 0, 1, 0, 0, 0, 0),          64,  "Dummy IPv6 Prefix"),               // the IANA registry
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),         23,  "IETF Protocol Assignments"),       // RFC 2928
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),         32,  "TEREDO"),                          // RFC 4380
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),     32,  "Documentation"),                   // RFC 3849
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0),         16,  "6to4"),                            // RFC 3056
    (Ipv6Addr::new(0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0), 48,  "Direct Delegation AS112 Service"), // RFC 7534
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),         20,  "Documentation"),                   // RFC 9637
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0),         16,  "Segment Routing (SRv6) SIDs"),     // RFC 9602
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),         7,   "Unique-Local"),                    // RFC 4193
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),         10,  "Link-Local Unicast"),              // RFC 4291
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),         10,  "Site-Local (deprecated)"),         // RFC 3879
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),         8,   "Multicast"),                       // RFC 4291
];

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_private: false,
    };
    const LOOSE: UrlPolicy = UrlPolicy {
        allow_private: true,
    };

    #[test]
    fn strict_policy_wants_public_https() {
        assert!(TargetUrl::parse("https://myapp.com/webhooks/whatsapp", STRICT).is_ok());
        assert_eq!(
            TargetUrl::parse("http://myapp.com/x", STRICT),
            Err(UrlError::NotHttps)
        );
        assert_eq!(
            TargetUrl::parse("ftp://myapp.com/x", STRICT),
            Err(UrlError::Scheme)
        );
        assert_eq!(
            TargetUrl::parse("not a url", STRICT),
            Err(UrlError::Malformed)
        );
        assert_eq!(
            TargetUrl::parse("https://u:p@myapp.com/", STRICT),
            Err(UrlError::Credentials)
        );
        for private in [
            "https://127.0.0.1/x",
            "https://10.0.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://192.168.1.10/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://localhost:8080/",
            "https://100.64.0.1/",
        ] {
            assert_eq!(
                TargetUrl::parse(private, STRICT),
                Err(UrlError::PrivateAddress),
                "{private}"
            );
        }
    }

    #[test]
    fn the_limit_holds_for_the_url_as_kept() {
        // Within the limit as given, three times over it once percent-encoded.
        let nuls = format!("https://myapp.com/{}x", "a\0".repeat(600));
        assert!(nuls.len() <= TargetUrl::MAX_LEN);
        assert_eq!(TargetUrl::parse(&nuls, STRICT), Err(UrlError::TooLong));
    }

    #[test]
    fn urls_are_bounded() {
        let long = format!("https://myapp.com/{}", "a".repeat(TargetUrl::MAX_LEN));
        assert_eq!(TargetUrl::parse(&long, STRICT), Err(UrlError::TooLong));
        let fits = format!("https://myapp.com/{}", "a".repeat(TargetUrl::MAX_LEN - 18));
        assert!(TargetUrl::parse(&fits, STRICT).is_ok());
    }

    #[test]
    fn loose_policy_allows_local_http_but_not_other_schemes() {
        assert!(TargetUrl::parse("http://127.0.0.1:9000/hook", LOOSE).is_ok());
        assert_eq!(
            TargetUrl::parse("file:///etc/passwd", LOOSE),
            Err(UrlError::Scheme)
        );
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_addresses_are_public() {
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "9.9.9.9",
            "2606:4700::1111",
            "2a00:1450:4001:82b::200e",
        ] {
            assert!(is_public_ip(ip(public)), "{public}");
            assert_eq!(special_purpose(ip(public)), None, "{public}");
        }
        for url in ["https://8.8.8.8/", "https://[2606:4700::1111]/"] {
            assert!(TargetUrl::parse(url, STRICT).is_ok(), "{url}");
        }
    }

    /// Addresses the checks before the registry table let through.
    #[test]
    fn special_purpose_blocks_that_used_to_pass_are_refused() {
        for (addr, url) in [
            "::7f00:1",                             // IPv4-compatible 127.0.0.1
            "::a00:1",                              // IPv4-compatible 10.0.0.1
            "::ffff:0:7f00:1",                      // IPv4-translated 127.0.0.1
            "64:ff9b::7f00:1",                      // NAT64 of 127.0.0.1
            "64:ff9b::a9fe:a9fe",                   // NAT64 of 169.254.169.254
            "64:ff9b::808:808",                     // NAT64 of 8.8.8.8: the whole block is refused
            "64:ff9b:1::1",                         // NAT64 local use
            "2002:7f00:1::1",                       // 6to4 of 127.0.0.1
            "2002:808:808::1",                      // 6to4 of 8.8.8.8: the whole block is refused
            "2001::1",                              // Teredo
            "2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo, RFC 4380 example
            "fec0::1",                              // site-local
            "100::1",                               // discard-only
            "3fff::1",                              // documentation (RFC 9637)
            "5f00::1",                              // SRv6 SIDs
            "2001:2::1",                            // benchmarking, inside 2001::/23
            "4000::1",                              // reserved by IETF, outside 2000::/3
            "1fff:ffff::1",                         // reserved by IETF, just below 2000::/3
        ]
        .map(|v6| (v6, format!("https://[{v6}]/")))
        .into_iter()
        .chain(["198.18.0.1", "198.19.1.1"].map(|v4| (v4, format!("https://{v4}/"))))
        {
            assert!(!is_public_ip(ip(addr)), "{addr}");
            assert_eq!(
                TargetUrl::parse(&url, STRICT),
                Err(UrlError::PrivateAddress),
                "{url}"
            );
        }
    }

    #[test]
    fn every_registry_block_is_refused() {
        for special in [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "192.0.0.9", // PCP anycast: globally reachable, refused with its /24
            "192.0.0.170",
            "192.0.2.1",
            "192.31.196.1",
            "192.52.193.1",
            "192.88.99.1",
            "192.168.1.1",
            "192.175.48.1",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8", // mapped forms are refused whole, public or not
            "100:0:0:1::1",
            "2001:1::1", // PCP anycast: globally reachable, refused with 2001::/23
            "2001:db8::1",
            "2620:4f:8000::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "ff0e::1",
        ] {
            assert!(!is_public_ip(ip(special)), "{special}");
        }
    }

    #[test]
    fn block_edges() {
        for (addr, public) in [
            ("198.17.255.255", true),
            ("198.18.0.0", false),
            ("198.19.255.255", false),
            ("198.20.0.0", true),
            ("100.63.255.255", true),
            ("100.64.0.0", false),
            ("100.127.255.255", false),
            ("100.128.0.0", true),
            ("172.15.255.255", true),
            ("172.16.0.0", false),
            ("172.31.255.255", false),
            ("172.32.0.0", true),
            ("1.0.0.0", true),
            ("0.255.255.255", false),
            ("223.255.255.255", true),
            ("224.0.0.0", false),
            ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:200::", true),
            ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("2001:db8::", false),
            ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:db9::", true),
            ("2003::", true),
            ("2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("3fff:1000::", true),
            ("2000::", true),
            ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("4000::", false),
        ] {
            assert_eq!(is_public_ip(ip(addr)), public, "{addr}");
        }
    }

    #[test]
    fn the_most_specific_block_names_an_address() {
        assert_eq!(
            special_purpose(ip("255.255.255.255")),
            Some("Limited Broadcast")
        );
        assert_eq!(special_purpose(ip("240.0.0.1")), Some("Reserved"));
        assert_eq!(special_purpose(ip("2001::1")), Some("TEREDO"));
        assert_eq!(
            special_purpose(ip("2001:2::1")),
            Some("IETF Protocol Assignments")
        );
        assert_eq!(special_purpose(ip("::")), Some("Unspecified Address"));
        assert_eq!(special_purpose(ip("::1")), Some("Loopback Address"));
        assert_eq!(special_purpose(ip("fe80::1")), Some("Link-Local Unicast"));
        assert_eq!(special_purpose(ip("8000::1")), Some("Reserved by IETF"));
    }

    /// A typo in a row (a host bit set, a length past the width) would silently widen or break
    /// its block; every row must be a clean prefix.
    #[test]
    fn every_row_is_a_clean_prefix() {
        fn clean(net: u128, len: u32, width: u32) -> bool {
            len <= width && net.checked_shl(128 - width + len).unwrap_or(0) == 0
        }
        for &(net, len, name) in V4_SPECIAL {
            assert!(clean(net.to_bits().into(), len, 32), "{net}/{len} {name}");
        }
        for &(net, len, name) in V6_SPECIAL {
            assert!(clean(net.to_bits(), len, 128), "{net}/{len} {name}");
        }
    }
}
