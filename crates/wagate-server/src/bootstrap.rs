//! First start: on an empty database, create the `default` account (enterprise) with a key, and
//! an admin token when none is configured. Both secrets are returned once, for printing.

use wagate_core::account::AccountName;
use wagate_core::api_key::{hash_secret, random_hex};
use wagate_core::plan::Plan;
use wagate_core::store::{Store, StoreError};

use crate::accounts::create_account;

const ADMIN_TOKEN_SETTING: &str = "admin_token_sha256";
const BOOTSTRAP_SETTING: &str = "bootstrapped";

/// Secrets made by this start, shown to the operator once.
#[derive(Debug, Clone, Default)]
pub struct FirstStart {
    pub default_api_key: Option<String>,
    pub admin_token: Option<String>,
}

pub struct Bootstrapped {
    pub admin_token_hash: String,
    pub first_start: FirstStart,
}

pub async fn bootstrap(
    store: &dyn Store,
    configured_admin_token: Option<&str>,
) -> Result<Bootstrapped, StoreError> {
    let mut first = FirstStart::default();
    let admin_token_hash = match configured_admin_token {
        Some(t) => hash_secret(t),
        None => match store.get_setting(ADMIN_TOKEN_SETTING).await? {
            Some(h) => h,
            None => {
                let token = format!("wga_{}", random_hex(32));
                let hash = hash_secret(&token);
                // Several nodes may start at once; only the one whose write lands prints.
                if store
                    .put_setting_if_absent(ADMIN_TOKEN_SETTING, &hash)
                    .await?
                {
                    first.admin_token = Some(token);
                    hash
                } else {
                    store
                        .get_setting(ADMIN_TOKEN_SETTING)
                        .await?
                        .ok_or_else(|| StoreError::Corrupt("admin token setting vanished".into()))?
                }
            }
        },
    };
    if store
        .put_setting_if_absent(
            BOOTSTRAP_SETTING,
            &wagate_core::Timestamp::now().to_rfc3339(),
        )
        .await?
    {
        let name = AccountName::from_trusted("default".into());
        let (_, key) = create_account(store, name, Plan::Enterprise).await?;
        first.default_api_key = Some(key.token);
    }
    Ok(Bootstrapped {
        admin_token_hash,
        first_start: first,
    })
}
