//! Meta's error codes → wagate's `error.code` of a failed message, in one table.
//! Codes: <https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes>.

use wagate_core::failure::FailureCode;

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
    pub code: FailureCode,
    pub disposition: Disposition,
}

const fn fail(code: FailureCode) -> Mapped {
    Mapped {
        code,
        disposition: Disposition::Fail,
    }
}

const fn retry(code: FailureCode) -> Mapped {
    Mapped {
        code,
        disposition: Disposition::RetryThenFail,
    }
}

/// The one mapping of Meta's `error.code` to wagate's error codes.
pub fn map_meta_error(code: i64) -> Mapped {
    match code {
        // The access token expired, was revoked, or belongs to no one.
        190 => fail(FailureCode::OfficialTokenInvalid),
        // The token lacks the WhatsApp permissions for this number.
        10 | 200..=299 | 131005 => fail(FailureCode::OfficialPermissionDenied),
        // The customer has not written in the last 24 hours: only a template may be sent.
        131047 => fail(FailureCode::OutsideConversationWindow),
        // The number has no WhatsApp account (or cannot receive this message). The sandbox
        // reports the same condition with the same code.
        131026 => fail(FailureCode::RecipientNotOnWhatsapp),
        // Throttling: app-level, business-number throughput, pair rate, WABA-level.
        4 | 80007 | 130429 | 131056 => retry(FailureCode::RateLimited),
        // Meta could not fetch or process the media at `mediaUrl`.
        131052 | 131053 => fail(FailureCode::MediaFetchFailed),
        132001 => fail(FailureCode::TemplateNotFound),
        132000 | 132005 | 132007 | 132012 | 132015 | 132016 => fail(FailureCode::TemplateInvalid),
        131051 => fail(FailureCode::UnsupportedMessageType),
        100 | 131008 | 131009 => fail(FailureCode::OfficialInvalidRequest),
        // The number is not registered with the Cloud API, or the account is restricted.
        133010 => fail(FailureCode::OfficialNumberNotRegistered),
        368 | 131031 => fail(FailureCode::AccountRestricted),
        // Meta's transient failures.
        1 | 2 | 131000 | 131016 => retry(FailureCode::OfficialApiError),
        _ => fail(FailureCode::OfficialApiError),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(meta: i64, code: FailureCode, disposition: Disposition) {
        let m = map_meta_error(meta);
        assert_eq!(
            (m.code, m.disposition),
            (code, disposition),
            "Meta code {meta}"
        );
    }

    #[test]
    fn token_invalid_190() {
        check(190, FailureCode::OfficialTokenInvalid, Disposition::Fail);
    }

    #[test]
    fn outside_window_131047() {
        check(
            131047,
            FailureCode::OutsideConversationWindow,
            Disposition::Fail,
        );
    }

    #[test]
    fn not_on_whatsapp_131026() {
        check(
            131026,
            FailureCode::RecipientNotOnWhatsapp,
            Disposition::Fail,
        );
    }

    #[test]
    fn rate_limited_130429() {
        check(130429, FailureCode::RateLimited, Disposition::RetryThenFail);
    }

    #[test]
    fn rate_limited_131056() {
        check(131056, FailureCode::RateLimited, Disposition::RetryThenFail);
    }

    #[test]
    fn rate_limited_80007() {
        check(80007, FailureCode::RateLimited, Disposition::RetryThenFail);
    }

    #[test]
    fn rate_limited_4() {
        check(4, FailureCode::RateLimited, Disposition::RetryThenFail);
    }

    #[test]
    fn permission_denied_10_and_2xx() {
        check(10, FailureCode::OfficialPermissionDenied, Disposition::Fail);
        check(
            200,
            FailureCode::OfficialPermissionDenied,
            Disposition::Fail,
        );
        check(
            131005,
            FailureCode::OfficialPermissionDenied,
            Disposition::Fail,
        );
    }

    #[test]
    fn media_errors() {
        check(131052, FailureCode::MediaFetchFailed, Disposition::Fail);
        check(131053, FailureCode::MediaFetchFailed, Disposition::Fail);
    }

    #[test]
    fn template_errors() {
        check(132001, FailureCode::TemplateNotFound, Disposition::Fail);
        check(132000, FailureCode::TemplateInvalid, Disposition::Fail);
        check(132012, FailureCode::TemplateInvalid, Disposition::Fail);
    }

    #[test]
    fn invalid_parameters() {
        check(100, FailureCode::OfficialInvalidRequest, Disposition::Fail);
        check(
            131009,
            FailureCode::OfficialInvalidRequest,
            Disposition::Fail,
        );
    }

    #[test]
    fn restricted_and_unregistered() {
        check(368, FailureCode::AccountRestricted, Disposition::Fail);
        check(131031, FailureCode::AccountRestricted, Disposition::Fail);
        check(
            133010,
            FailureCode::OfficialNumberNotRegistered,
            Disposition::Fail,
        );
        check(
            131051,
            FailureCode::UnsupportedMessageType,
            Disposition::Fail,
        );
    }

    #[test]
    fn transient_meta_errors_are_retried() {
        check(
            131000,
            FailureCode::OfficialApiError,
            Disposition::RetryThenFail,
        );
        check(2, FailureCode::OfficialApiError, Disposition::RetryThenFail);
    }

    #[test]
    fn anything_else_fails_as_an_api_error() {
        check(987654, FailureCode::OfficialApiError, Disposition::Fail);
    }
}
