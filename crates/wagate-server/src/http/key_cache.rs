//! Verified API keys held in memory, so that a request is authenticated without a database read.
//!
//! An entry is a key and its account as read when a secret last verified against them. Every
//! request still hashes the secret it presents and checks it against the entry's SHA-256, with
//! the key's revocation and expiry (`ApiKey::verify`): a key that expires is refused by its cached
//! expiry. What makes an entry stale drops it, before the change is answered:
//! - a revocation, account update or account delete made by this process: the store tells the
//!   cache right after the commit;
//! - on PostgreSQL, one made by another node or by the CLI: the store `LISTEN`s on `wagate_keys`
//!   and the change sent `NOTIFY` in its transaction. While that connection is down the cache
//!   keeps nothing.
//! - On SQLite one server holds the database alone, so what this process commits is all there is
//!   to hear.
//!
//! A change also moves `generation`: a request that read the database before a change and
//! would remember what it read after it does not (it may be the stale row).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use wagate_core::ApiKeyId;
use wagate_core::account::Account;
use wagate_core::api_key::ApiKey;
use wagate_core::store::{CredentialsChange, Store, StoreError};

#[derive(Default)]
pub struct KeyCache {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    keys: HashMap<ApiKeyId, (ApiKey, Account)>,
    generation: u64,
    /// Changes from other processes may go unheard: keep nothing.
    deaf: bool,
}

/// The cache's state when a request went to the database; it remembers what it read only if no
/// change came in between.
#[derive(Debug, Clone, Copy)]
pub struct Generation(u64);

impl KeyCache {
    /// A cache told of every change to credentials by `store`.
    pub async fn watching(store: &dyn Store) -> Result<Arc<Self>, StoreError> {
        let cache = Arc::new(Self::default());
        let weak = Arc::downgrade(&cache);
        store
            .watch_credentials(Arc::new(move |change| {
                if let Some(cache) = weak.upgrade() {
                    cache.forget(change);
                }
            }))
            .await?;
        Ok(cache)
    }

    /// The credentials held for `id`, if any; else where to start a database read from.
    pub fn get(&self, id: &ApiKeyId) -> Result<(ApiKey, Account), Generation> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner
            .keys
            .get(id)
            .cloned()
            .ok_or(Generation(inner.generation))
    }

    /// Holds credentials that just verified, read from the database since `seen`.
    pub fn remember(&self, seen: Generation, key: &ApiKey, account: &Account) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.generation == seen.0 && !inner.deaf {
            inner
                .keys
                .insert(key.id.clone(), (key.clone(), account.clone()));
        }
    }

    fn forget(&self, change: &CredentialsChange) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.generation += 1;
        match change {
            CredentialsChange::Key(id) => {
                inner.keys.remove(id);
            }
            CredentialsChange::Account(id) => inner.keys.retain(|_, (k, _)| k.account_id != *id),
            CredentialsChange::Any => inner.keys.clear(),
            CredentialsChange::Deaf => {
                inner.deaf = true;
                inner.keys.clear();
            }
            CredentialsChange::Hearing => inner.deaf = false,
        }
    }
}
