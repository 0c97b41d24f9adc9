//! `docs/ERRORS.md` lists every error code: each `ApiError` (with its HTTP status) and each
//! failure code of messages and connections. The table is rendered here from the enums and must
//! equal the file; `WAGATE_WRITE_DOCS=1 cargo test --workspace -- error_table` rewrites it.

use strum::IntoEnumIterator;
use wagate_core::failure::{FailureCode, FailureOf};
use wagate_server::http::error::ApiErrorKind;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/ERRORS.md");

fn render() -> String {
    let mut out = String::from(
        "# Error codes\n\n\
         Generated from the code by `crates/wagate-server/tests/error_catalog.rs` (which fails when \
         this file and the code differ).\n\n\
         ## API errors\n\n\
         Every failed request answers `{\"success\": false, \"error\": {\"code\", \"message\", \
         \"requestId\"}}` with this status (§15.2).\n\n\
         | code | status | when |\n|---|---|---|\n",
    );
    // A code two variants share (one is how the server handles it inside) is listed once.
    let mut listed = std::collections::HashSet::new();
    for kind in ApiErrorKind::iter().filter(|k| listed.insert(k.code())) {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            kind.code(),
            kind.status().as_u16(),
            kind.meaning()
        ));
    }
    for (title, of, intro) in [
        (
            "Connection failures",
            FailureOf::Connection,
            "An instance's `lastError.code`, and the `reason` of `instance.disconnected` (which \
             is also `disconnected` for a user's disconnect and `restarting` for a restart).",
        ),
        (
            "Message failures",
            FailureOf::Message,
            "The `error.code` of a `failed` message (and of `message.failed`).",
        ),
    ] {
        out.push_str(&format!(
            "\n## {title}\n\n{intro}\n\n| code | meaning |\n|---|---|\n"
        ));
        for c in FailureCode::all().filter(|c| c.of() == of) {
            out.push_str(&format!("| `{}` | {} |\n", c.spelling(), c.meaning()));
        }
    }
    out
}

#[test]
fn error_table_lists_every_code() {
    let table = render();
    if std::env::var_os("WAGATE_WRITE_DOCS").is_some() {
        std::fs::write(PATH, &table).unwrap();
    }
    let doc = std::fs::read_to_string(PATH).unwrap_or_default();
    assert!(
        doc == table,
        "docs/ERRORS.md differs from the codes; rewrite it with \
         `WAGATE_WRITE_DOCS=1 cargo test --workspace -- error_table`"
    );
}
