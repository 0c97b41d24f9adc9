//! Meta's error codes → wagate's `error.code` of a failed message, in one table.
//! Codes: <https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes>.

/// What the send loop does with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Fails the message at once: trying again cannot help.
    Fail,
    /// Tries again with backoff (throttling, Meta's own hiccups), then fails the message.
    RetryThenFail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapped {
    pub code: &'static str,
    pub disposition: Disposition,
}

const fn fail(code: &'static str) -> Mapped {
    Mapped {
        code,
        disposition: Disposition::Fail,
    }
}

const fn retry(code: &'static str) -> Mapped {
    Mapped {
        code,
        disposition: Disposition::RetryThenFail,
    }
}

/// The one mapping of Meta's `error.code` to wagate's error codes.
pub fn map_meta_error(code: i64) -> Mapped {
    match code {
        // The access token expired, was revoked, or belongs to no one.
        190 => fail("official_token_invalid"),
        // The token lacks the WhatsApp permissions for this number.
        10 | 200..=299 | 131005 => fail("official_permission_denied"),
        // The customer has not written in the last 24 hours: only a template may be sent.
        131047 => fail("outside_conversation_window"),
        // The number has no WhatsApp account (or cannot receive this message). The sandbox
        // reports the same condition with the same code.
        131026 => fail("recipient_not_on_whatsapp"),
        // Throttling: app-level, business-number throughput, pair rate, WABA-level.
        4 | 80007 | 130429 | 131056 => retry("rate_limited"),
        // Meta could not fetch or process the media at `mediaUrl`.
        131052 | 131053 => fail("media_fetch_failed"),
        132001 => fail("template_not_found"),
        132000 | 132005 | 132007 | 132012 | 132015 | 132016 => fail("template_invalid"),
        131051 => fail("unsupported_message_type"),
        100 | 131008 | 131009 => fail("official_invalid_request"),
        // The number is not registered with the Cloud API, or the account is restricted.
        133010 => fail("official_number_not_registered"),
        368 | 131031 => fail("account_restricted"),
        // Meta's transient failures.
        1 | 2 | 131000 | 131016 => retry("official_api_error"),
        _ => fail("official_api_error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(meta: i64, code: &str, disposition: Disposition) {
        let m = map_meta_error(meta);
        assert_eq!(
            (m.code, m.disposition),
            (code, disposition),
            "Meta code {meta}"
        );
    }

    #[test]
    fn token_invalid_190() {
        check(190, "official_token_invalid", Disposition::Fail);
    }

    #[test]
    fn outside_window_131047() {
        check(131047, "outside_conversation_window", Disposition::Fail);
    }

    #[test]
    fn not_on_whatsapp_131026() {
        check(131026, "recipient_not_on_whatsapp", Disposition::Fail);
    }

    #[test]
    fn rate_limited_130429() {
        check(130429, "rate_limited", Disposition::RetryThenFail);
    }

    #[test]
    fn rate_limited_131056() {
        check(131056, "rate_limited", Disposition::RetryThenFail);
    }

    #[test]
    fn rate_limited_80007() {
        check(80007, "rate_limited", Disposition::RetryThenFail);
    }

    #[test]
    fn rate_limited_4() {
        check(4, "rate_limited", Disposition::RetryThenFail);
    }

    #[test]
    fn permission_denied_10_and_2xx() {
        check(10, "official_permission_denied", Disposition::Fail);
        check(200, "official_permission_denied", Disposition::Fail);
        check(131005, "official_permission_denied", Disposition::Fail);
    }

    #[test]
    fn media_errors() {
        check(131052, "media_fetch_failed", Disposition::Fail);
        check(131053, "media_fetch_failed", Disposition::Fail);
    }

    #[test]
    fn template_errors() {
        check(132001, "template_not_found", Disposition::Fail);
        check(132000, "template_invalid", Disposition::Fail);
        check(132012, "template_invalid", Disposition::Fail);
    }

    #[test]
    fn invalid_parameters() {
        check(100, "official_invalid_request", Disposition::Fail);
        check(131009, "official_invalid_request", Disposition::Fail);
    }

    #[test]
    fn restricted_and_unregistered() {
        check(368, "account_restricted", Disposition::Fail);
        check(131031, "account_restricted", Disposition::Fail);
        check(133010, "official_number_not_registered", Disposition::Fail);
        check(131051, "unsupported_message_type", Disposition::Fail);
    }

    #[test]
    fn transient_meta_errors_are_retried() {
        check(131000, "official_api_error", Disposition::RetryThenFail);
        check(2, "official_api_error", Disposition::RetryThenFail);
    }

    #[test]
    fn anything_else_fails_as_an_api_error() {
        check(987654, "official_api_error", Disposition::Fail);
    }
}
