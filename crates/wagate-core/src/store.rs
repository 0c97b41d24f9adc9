//! The storage port: everything wagate keeps, behind one trait so the layers above never see SQL.
//! `wagate-store` implements it for SQLite and PostgreSQL, and one conformance suite checks both.

use async_trait::async_trait;
use thiserror::Error;

use crate::account::Account;
use crate::api_key::ApiKey;
use crate::instance::{Instance, InstancePatch, InstanceStatus};
use crate::page::OffsetPage;
use crate::{AccountId, ApiKeyId, InstanceId, Timestamp};

#[derive(Debug, Error)]
pub enum StoreError {
    /// The database could not be reached or refused the operation; callers answer 503/500.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A row broke an invariant the code relies on (should never happen; logged, answered 500).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A uniqueness rule was violated (e.g. the same id twice).
    #[error("conflict: {0}")]
    Conflict(String),
}

#[derive(Debug, Error)]
pub enum InsertInstanceError {
    #[error("the account has reached its plan's instance limit ({limit})")]
    LimitReached { limit: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything wagate keeps. Split by resource so each storage module implements one concept.
#[async_trait]
pub trait Store: SettingsStore + AccountStore + ApiKeyStore + InstanceStore {
    /// Answers when the database answers (`/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// Closes the connections (at shutdown, and between tests that start many servers).
    async fn close(&self);
}

/// Node-wide settings (bootstrap marker, admin token hash).
#[async_trait]
pub trait SettingsStore: Send + Sync + 'static {
    async fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Writes `value` unless the setting exists; true when this call wrote it. Lets exactly one
    /// of several starting nodes perform the first-start bootstrap.
    async fn put_setting_if_absent(&self, name: &str, value: &str) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    async fn insert_account(&self, account: &Account) -> Result<(), StoreError>;
    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError>;
    async fn list_accounts(&self, page: OffsetPage) -> Result<(Vec<Account>, u64), StoreError>;
    /// Replaces name, plan and limits; false when the account does not exist.
    async fn update_account(&self, account: &Account) -> Result<bool, StoreError>;
    /// Deletes the account with its keys and instances; false when it did not exist.
    async fn delete_account(&self, id: &AccountId) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait ApiKeyStore: Send + Sync + 'static {
    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;
    async fn get_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>, StoreError>;
    async fn list_api_keys(&self, account: &AccountId) -> Result<Vec<ApiKey>, StoreError>;
    /// Marks the key revoked; false when the account has no such live key.
    async fn revoke_api_key(
        &self,
        account: &AccountId,
        id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait InstanceStore: Send + Sync + 'static {
    /// Inserts the instance unless the account already has `limit` instances; the count and the
    /// insert are atomic, so concurrent creates cannot exceed the plan.
    async fn insert_instance(
        &self,
        instance: &Instance,
        limit: Option<u32>,
    ) -> Result<(), InsertInstanceError>;
    async fn get_instance(
        &self,
        account: &AccountId,
        id: &InstanceId,
    ) -> Result<Option<Instance>, StoreError>;
    async fn list_instances(
        &self,
        account: &AccountId,
        status: Option<InstanceStatus>,
        page: OffsetPage,
    ) -> Result<(Vec<Instance>, u64), StoreError>;
    async fn count_instances(&self, account: &AccountId) -> Result<u64, StoreError>;
    /// Applies the patch atomically and returns the updated instance (None: no such instance).
    async fn update_instance(
        &self,
        account: &AccountId,
        id: &InstanceId,
        patch: &InstancePatch,
    ) -> Result<Option<Instance>, StoreError>;
    async fn delete_instance(
        &self,
        account: &AccountId,
        id: &InstanceId,
    ) -> Result<bool, StoreError>;
    /// Instances per status over all accounts (the `/metrics` gauge).
    async fn instance_counts_by_status(&self) -> Result<Vec<(InstanceStatus, u64)>, StoreError>;
}

/// All store traits, for `use wagate_core::store::prelude::*`.
pub mod prelude {
    pub use super::{AccountStore, ApiKeyStore, InstanceStore, SettingsStore, Store};
}
