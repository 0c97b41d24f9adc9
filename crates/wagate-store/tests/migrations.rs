//! Migrations that change rows, run against rows made the way the code before them made them.

use wagate_core::account::{Account, AccountName};
use wagate_core::api_key::{ApiKey, NewKeySecret};
use wagate_core::plan::Plan;
use wagate_core::scope::{Scope, Scopes};
use wagate_core::store::prelude::*;
use wagate_core::{AccountId, Timestamp};
use wagate_store::SqlStore;
use wagate_testkit::{Backend, TestDb, on_both_backends};

const KEYS_WRITE: &str = include_str!("../migrations/sqlite/0013_keys_write.sql");

async fn key(store: &SqlStore, account: &AccountId, scopes: Scopes, at: i64) -> ApiKey {
    let secret = NewKeySecret::generate();
    let k = ApiKey {
        id: secret.id,
        account_id: account.clone(),
        name: AccountName::parse("k").unwrap(),
        scopes,
        secret_hash: secret.secret_hash,
        created_at: Timestamp::from_millis(at),
        expires_at: None,
        revoked_at: None,
    };
    store.insert_api_key(&k).await.unwrap();
    k
}

/// 0013: an account's first key, made with every scope there was, gets `keys:write`; a later
/// key, or a first key made narrower, does not.
async fn keys_write_goes_to_each_accounts_first_full_key(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = SqlStore::connect(&db.url).await.unwrap();
    let old_default = Scopes::from_list(Vec::new()); // what every key got before 0013
    let mut accounts = Vec::new();
    for _ in 0..2 {
        let a = Account {
            id: AccountId::generate(),
            name: AccountName::parse("Acme").unwrap(),
            plan: Plan::Pro,
            rate_limits: None,
            created_at: Timestamp::now(),
        };
        store.insert_account(&a).await.unwrap();
        accounts.push(a.id);
    }
    let first = key(&store, &accounts[0], old_default.clone(), 1_000).await;
    let later = key(&store, &accounts[0], old_default.clone(), 2_000).await;
    let narrow = Scopes::from_list(vec![Scope::MessagesRead]);
    let narrow_first = key(&store, &accounts[1], narrow.clone(), 1_000).await;

    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    sqlx::raw_sql(KEYS_WRITE).execute(&pool).await.unwrap();
    pool.close().await;

    let scopes_of = |keys: &[ApiKey], id| {
        keys.iter()
            .find(|k| k.id == id)
            .map(|k| k.scopes.clone())
            .unwrap()
    };
    let keys = store.list_api_keys(&accounts[0]).await.unwrap();
    assert_eq!(scopes_of(&keys, first.id), Scopes::all());
    assert_eq!(scopes_of(&keys, later.id), old_default);
    let keys = store.list_api_keys(&accounts[1]).await.unwrap();
    assert_eq!(scopes_of(&keys, narrow_first.id), narrow);
}

on_both_backends!(keys_write_goes_to_each_accounts_first_full_key);
