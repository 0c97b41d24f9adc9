//! The store conformance suite: every behaviour the layers above rely on, on SQLite and PostgreSQL.

use wagate_core::account::{Account, AccountName};
use wagate_core::api_key::{ApiKey, NewKeySecret};
use wagate_core::instance::{InstancePatch, InstanceStatus, NewInstance, Settings};
use wagate_core::net::TargetUrl;
use wagate_core::page::OffsetPage;
use wagate_core::plan::{Plan, RateLimits};
use wagate_core::scope::{Scope, Scopes};
use wagate_core::store::InsertInstanceError;
use wagate_core::store::prelude::*;
use wagate_core::webhook_event::WebhookEvent;
use wagate_core::{AccountId, InstanceId, Timestamp};
use wagate_store::SqlStore;
use wagate_testkit::{Backend, TestDb, on_both_backends};

async fn open(backend: Backend) -> (TestDb, SqlStore) {
    let db = TestDb::new(backend).await;
    let store = SqlStore::connect(&db.url)
        .await
        .expect("connect and migrate");
    (db, store)
}

async fn account(store: &SqlStore, plan: Plan) -> Account {
    let a = Account {
        id: AccountId::generate(),
        name: AccountName::parse("Acme").unwrap(),
        plan,
        rate_limits: None,
        created_at: Timestamp::now(),
    };
    store.insert_account(&a).await.unwrap();
    a
}

fn new_instance(name: &str) -> NewInstance {
    NewInstance {
        name: AccountName::parse(name).unwrap(),
        webhook_url: Some(TargetUrl::from_trusted("https://myapp.com/hook".into())),
        webhook_events: vec![WebhookEvent::MessageReceived, WebhookEvent::MessageSent],
        settings: Settings::default(),
    }
}

fn page() -> OffsetPage {
    OffsetPage::parse(None, None, 50, 100).unwrap()
}

async fn migrations_are_idempotent(backend: Backend) {
    let (_db, store) = open(backend).await;
    store.migrate().await.expect("second run is a no-op");
    store.ping().await.unwrap();
}

async fn settings_insert_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    assert_eq!(store.get_setting("x").await.unwrap(), None);
    assert!(store.put_setting_if_absent("x", "1").await.unwrap());
    assert!(!store.put_setting_if_absent("x", "2").await.unwrap());
    assert_eq!(store.get_setting("x").await.unwrap().as_deref(), Some("1"));
}

async fn accounts_round_trip(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut a = account(&store, Plan::Free).await;
    assert_eq!(store.get_account(&a.id).await.unwrap(), Some(a.clone()));
    a.plan = Plan::Enterprise;
    a.rate_limits = Some(RateLimits {
        general: Some(7),
        ..RateLimits::UNLIMITED
    });
    assert!(store.update_account(&a).await.unwrap());
    assert_eq!(store.get_account(&a.id).await.unwrap(), Some(a.clone()));
    let (list, total) = store.list_accounts(page()).await.unwrap();
    assert_eq!((list.len(), total), (1, 1));
    assert!(store.delete_account(&a.id).await.unwrap());
    assert_eq!(store.get_account(&a.id).await.unwrap(), None);
    assert!(!store.delete_account(&a.id).await.unwrap());
}

async fn keys_store_hash_and_revoke(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = account(&store, Plan::Pro).await;
    let secret = NewKeySecret::generate();
    let key = ApiKey {
        id: secret.id.clone(),
        account_id: a.id.clone(),
        name: AccountName::parse("ci").unwrap(),
        scopes: Scopes::from_list(vec![Scope::MessagesWrite]),
        secret_hash: secret.secret_hash.clone(),
        created_at: Timestamp::now(),
        expires_at: Some(Timestamp::now().plus_millis(60_000)),
        revoked_at: None,
    };
    store.insert_api_key(&key).await.unwrap();
    assert_eq!(store.get_api_key(&key.id).await.unwrap(), Some(key.clone()));
    assert_eq!(store.list_api_keys(&a.id).await.unwrap(), vec![key.clone()]);

    let other = account(&store, Plan::Pro).await;
    assert!(
        !store
            .revoke_api_key(&other.id, &key.id, Timestamp::now())
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_api_key(&a.id, &key.id, Timestamp::now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_api_key(&a.id, &key.id, Timestamp::now())
            .await
            .unwrap()
    );
    assert!(
        store
            .get_api_key(&key.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
}

async fn instances_crud_is_per_account(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = account(&store, Plan::Pro).await;
    let b = account(&store, Plan::Pro).await;
    let inst = new_instance("Sales").into_instance(a.id.clone(), Timestamp::now());
    store.insert_instance(&inst, None).await.unwrap();

    assert_eq!(
        store.get_instance(&a.id, &inst.id).await.unwrap(),
        Some(inst.clone())
    );
    assert_eq!(store.get_instance(&b.id, &inst.id).await.unwrap(), None);

    let patch = InstancePatch {
        name: Some(AccountName::parse("Vendas SP").unwrap()),
        webhook_url: Some(None),
        auto_read: Some(true),
        ..Default::default()
    };
    assert_eq!(
        store
            .update_instance(&b.id, &inst.id, &patch)
            .await
            .unwrap(),
        None
    );
    let updated = store
        .update_instance(&a.id, &inst.id, &patch)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.name.as_str(), "Vendas SP");
    assert_eq!(updated.webhook_url, None);
    assert!(updated.settings.auto_read);
    assert!(
        updated.settings.auto_typing,
        "untouched fields keep their value"
    );
    assert_eq!(updated.webhook_events, inst.webhook_events);

    assert!(!store.delete_instance(&b.id, &inst.id).await.unwrap());
    assert!(store.delete_instance(&a.id, &inst.id).await.unwrap());
    assert_eq!(store.get_instance(&a.id, &inst.id).await.unwrap(), None);
}

async fn instance_limit_holds_under_concurrency(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = account(&store, Plan::Starter).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let inst = new_instance(&format!("i{i}")).into_instance(a.id.clone(), Timestamp::now());
        tasks.push(tokio::spawn(async move {
            store.insert_instance(&inst, Some(3)).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(InsertInstanceError::LimitReached { limit: 3 }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 3);
    assert_eq!(store.count_instances(&a.id).await.unwrap(), 3);
}

async fn list_filters_and_paginates(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = account(&store, Plan::Enterprise).await;
    let mut ids: Vec<InstanceId> = Vec::new();
    for i in 0..5 {
        let inst = new_instance(&format!("i{i}")).into_instance(a.id.clone(), Timestamp::now());
        store.insert_instance(&inst, None).await.unwrap();
        ids.push(inst.id);
    }
    let p = OffsetPage::parse(Some(2), Some(1), 50, 100).unwrap();
    let (list, total) = store.list_instances(&a.id, None, p).await.unwrap();
    assert_eq!(total, 5);
    assert_eq!(
        list.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        ids[1..3].to_vec()
    );
    let (list, total) = store
        .list_instances(&a.id, Some(InstanceStatus::Connected), page())
        .await
        .unwrap();
    assert_eq!((list.len(), total), (0, 0));
    let (_, total) = store
        .list_instances(&a.id, Some(InstanceStatus::Disconnected), page())
        .await
        .unwrap();
    assert_eq!(total, 5);
    let counts = store.instance_counts_by_status().await.unwrap();
    assert_eq!(counts, vec![(InstanceStatus::Disconnected, 5)]);
}

async fn deleting_an_account_removes_its_keys_and_instances(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = account(&store, Plan::Pro).await;
    let inst = new_instance("x").into_instance(a.id.clone(), Timestamp::now());
    store.insert_instance(&inst, None).await.unwrap();
    assert!(store.delete_account(&a.id).await.unwrap());
    assert_eq!(store.count_instances(&a.id).await.unwrap(), 0);
}

on_both_backends!(
    migrations_are_idempotent,
    settings_insert_once,
    accounts_round_trip,
    keys_store_hash_and_revoke,
    instances_crud_is_per_account,
    instance_limit_holds_under_concurrency,
    list_filters_and_paginates,
    deleting_an_account_removes_its_keys_and_instances,
);
