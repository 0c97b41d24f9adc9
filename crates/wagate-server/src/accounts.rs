//! Account and key operations shared by the admin API and the CLI.

use wagate_core::account::{Account, AccountName, DisplayName};
use wagate_core::api_key::{ApiKey, NewKeySecret};
use wagate_core::plan::Plan;
use wagate_core::scope::Scopes;
use wagate_core::store::{Store, StoreError};
use wagate_core::{AccountId, Timestamp};

/// A key just created: the stored record and the token, which is shown this once.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub key: ApiKey,
    pub token: String,
}

/// A key to issue, parsed: from a request body (`routes::key_request`), the CLI's flags, or the
/// server itself (an account's first key).
#[derive(Debug)]
pub struct NewKey {
    pub name: DisplayName,
    pub scopes: Scopes,
    pub expires_at: Option<Timestamp>,
}

pub async fn issue_key(
    store: &dyn Store,
    account: &AccountId,
    new: NewKey,
) -> Result<IssuedKey, StoreError> {
    let secret = NewKeySecret::generate();
    let key = ApiKey {
        id: secret.id,
        account_id: account.clone(),
        name: new.name,
        scopes: new.scopes,
        secret_hash: secret.secret_hash,
        created_at: Timestamp::now(),
        expires_at: new.expires_at,
        revoked_at: None,
    };
    store.insert_api_key(&key).await?;
    Ok(IssuedKey {
        key,
        token: secret.token,
    })
}

/// Creates an account with a first key that has every scope, `keys:write` included.
pub async fn create_account(
    store: &dyn Store,
    name: AccountName,
    plan: Plan,
) -> Result<(Account, IssuedKey), StoreError> {
    let account = Account {
        id: AccountId::generate(),
        name,
        plan,
        rate_limits: None,
        created_at: Timestamp::now(),
    };
    store.insert_account(&account).await?;
    let first = NewKey {
        name: AccountName::from_trusted("default".into()),
        scopes: Scopes::all(),
        expires_at: None,
    };
    let key = issue_key(store, &account.id, first).await?;
    Ok((account, key))
}
