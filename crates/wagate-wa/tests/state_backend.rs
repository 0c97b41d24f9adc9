//! The engine's session state on wagate's database (SQLite and PostgreSQL): the semantics of
//! whatsapp-rust's `Backend` that the crate relies on but its signatures don't show (mirrors
//! the crate's `InMemoryBackend`), and isolation between instances.

use std::sync::Arc;

use wagate_core::InstanceId;
use wagate_core::engine_state::EngineStateStore;
use wagate_core::node::Tenure;
use wagate_store::SqlStore;
use wagate_testkit::{Backend, TestDb, on_both_backends};
use wagate_wa::state::KvBackend;
use whatsapp_rust::wacore::store::traits::*;

on_both_backends!(
    device_row_lifecycle,
    prekeys_max_id_and_take,
    lid_mapping_moves_reverse_index,
    signal_state_prefixes_and_sender_key_devices,
    msg_secret_merge_and_expiry,
    tc_token_newer_wins_and_expiry,
    pending_inbound_and_sync_keys,
    nothing_is_written_once_the_tenure_ends,
);

/// Two instances' backends on one database: every test also checks the other one saw nothing.
async fn backends(db: &TestDb) -> (KvBackend, KvBackend) {
    let store: Arc<dyn EngineStateStore> = Arc::new(SqlStore::connect(&db.url).await.unwrap());
    (
        KvBackend::new(store.clone(), InstanceId::generate(), Tenure::unbounded()),
        KvBackend::new(store, InstanceId::generate(), Tenure::unbounded()),
    )
}

async fn device_row_lifecycle(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (b, other) = backends(&db).await;
    let _ = &other;
    assert!(!b.exists().await.unwrap());
    b.create().await.unwrap();
    assert!(b.exists().await.unwrap());
    assert!(
        b.load().await.unwrap().is_none(),
        "placeholder row loads as None"
    );
    let d = whatsapp_rust::wacore::store::Device::new();
    b.save(&d).await.unwrap();
    let l = b.load().await.unwrap().unwrap();
    assert_eq!(l.registration_id, d.registration_id);
    assert_eq!(
        l.identity_key.public_key.public_key_bytes(),
        d.identity_key.public_key.public_key_bytes()
    );
}

async fn prekeys_max_id_and_take(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (b, other) = backends(&db).await;
    let _ = &other;
    assert_eq!(b.get_max_prekey_id().await.unwrap(), 0);
    b.store_prekeys_batch(
        &[
            (7, vec![1].into()),
            (300, vec![2].into()),
            (65536, vec![3].into()),
        ],
        false,
    )
    .await
    .unwrap();
    assert_eq!(b.get_max_prekey_id().await.unwrap(), 65536);
    b.remove_prekey(65536).await.unwrap();
    assert_eq!(b.get_max_prekey_id().await.unwrap(), 300);
    b.store_sent_message("c@s.whatsapp.net", "M1", b"p")
        .await
        .unwrap();
    assert_eq!(
        b.take_sent_message("c@s.whatsapp.net", "M1")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"p"[..])
    );
    assert_eq!(
        b.take_sent_message("c@s.whatsapp.net", "M1").await.unwrap(),
        None,
        "take is consuming"
    );
    assert_eq!(
        other.get_max_prekey_id().await.unwrap(),
        0,
        "another instance sees nothing"
    );
}

async fn lid_mapping_moves_reverse_index(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (b, other) = backends(&db).await;
    let _ = &other;
    let e = |lid: &str, pn: &str| LidPnMappingEntry {
        lid: lid.into(),
        phone_number: pn.into(),
        created_at: 1,
        updated_at: 1,
        learning_source: "usync".into(),
    };
    b.put_lid_mapping(&e("100", "555")).await.unwrap();
    b.put_lid_mapping(&e("100", "666")).await.unwrap();
    assert!(
        b.get_pn_mapping("555").await.unwrap().is_none(),
        "stale reverse entry removed"
    );
    assert_eq!(b.get_pn_mapping("666").await.unwrap().unwrap().lid, "100");
    assert_eq!(b.get_all_lid_mappings().await.unwrap().len(), 1);
}

async fn signal_state_prefixes_and_sender_key_devices(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (b, other) = backends(&db).await;
    let _ = &other;
    b.put_session("123:4@s.whatsapp.net", b"s").await.unwrap();
    assert!(b.has_signal_state_for_user("123").await.unwrap());
    assert!(!b.has_signal_state_for_user("12").await.unwrap());
    b.set_sender_key_status("g1@g.us", &[("a:1@lid", true), ("b:2@lid", false)])
        .await
        .unwrap();
    b.set_sender_key_status("g2@g.us", &[("a:1@lid", true)])
        .await
        .unwrap();
    b.delete_sender_key_device_rows(&["a:1@lid"]).await.unwrap();
    assert_eq!(
        b.get_sender_key_devices("g1@g.us").await.unwrap(),
        vec![("b:2@lid".to_string(), false)]
    );
    assert!(
        b.get_sender_key_devices("g2@g.us")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn msg_secret_merge_and_expiry(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (b, other) = backends(&db).await;
    let _ = &other;
    let e = |exp, ts| MsgSecretEntry {
        chat: Arc::from("c"),
        sender: Arc::from("s"),
        msg_id: Arc::from("m"),
        secret: [9; 32],
        expires_at: exp,
        message_ts: ts,
    };
    b.put_msg_secrets(vec![e(100, 5)]).await.unwrap();
    b.put_msg_secrets(vec![e(50, 0)]).await.unwrap(); // must not shorten, must not clobber ts
    assert_eq!(
        b.get_msg_secret_with_ts("c", "s", "m").await.unwrap(),
        Some((vec![9; 32], 5))
    );
    assert_eq!(b.delete_expired_msg_secrets(99).await.unwrap(), 0);
    assert_eq!(
        b.delete_expired_msg_secrets(100).await.unwrap(),
        1,
        "expires_at <= cutoff is deleted"
    );
}

async fn tc_token_newer_wins_and_expiry(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (b, other) = backends(&db).await;
    let _ = &other;
    b.store_received_tc_token("j", b"new", 200).await.unwrap();
    b.store_received_tc_token("j", b"old", 100).await.unwrap();
    assert_eq!(b.get_tc_token("j").await.unwrap().unwrap().token, b"new");
    b.touch_tc_token_sender_timestamp("j", 300).await.unwrap();
    b.touch_tc_token_sender_timestamp("j", 250).await.unwrap();
    assert_eq!(
        b.get_tc_token("j").await.unwrap().unwrap().sender_timestamp,
        Some(300)
    );
    assert_eq!(
        b.delete_expired_tc_tokens(250, 250).await.unwrap(),
        0,
        "sender bucket still live"
    );
    assert_eq!(b.delete_expired_tc_tokens(250, 301).await.unwrap(), 1);
}

async fn pending_inbound_and_sync_keys(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (b, other) = backends(&db).await;
    let _ = &other;
    b.store_pending_inbound("c", "s", "1", b"m").await.unwrap();
    assert_eq!(
        b.get_pending_inbound("c", "s", "1")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"m"[..])
    );
    b.delete_pending_inbound_batch(&[PendingInboundKey {
        chat: "c",
        sender: "s",
        id: "1",
    }])
    .await
    .unwrap();
    assert!(
        b.get_pending_inbound("c", "s", "1")
            .await
            .unwrap()
            .is_none()
    );
    b.set_sync_key(
        b"k1",
        AppStateSyncKey {
            key_data: vec![1],
            fingerprint: vec![],
            timestamp: 1,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        b.get_latest_sync_key_id().await.unwrap().as_deref(),
        Some(&b"k1"[..])
    );
    assert_eq!(
        b.get_version("regular").await.unwrap().version,
        0,
        "missing version = default"
    );
    other
        .set_sync_key(
            b"k1",
            AppStateSyncKey {
                key_data: vec![2],
                fingerprint: vec![],
                timestamp: 1,
            },
        )
        .await
        .unwrap();
    b.wipe().await.unwrap();
    assert!(b.get_sync_key(b"k1").await.unwrap().is_none());
    assert_eq!(
        other.get_sync_key(b"k1").await.unwrap().unwrap().key_data,
        vec![2],
        "a wipe is per instance"
    );
}

/// §19: a node whose lease may have run out (its tenure ended) writes no key of the instance's
/// session: not a prekey, not a take, not a wipe; reads still answer what is there.
async fn nothing_is_written_once_the_tenure_ends(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store: Arc<dyn EngineStateStore> = Arc::new(SqlStore::connect(&db.url).await.unwrap());
    let id = InstanceId::generate();
    let tenure = Tenure::unbounded();
    let b = KvBackend::new(store.clone(), id.clone(), tenure.clone());
    b.store_prekeys_batch(&[(7, vec![1].into())], false)
        .await
        .unwrap();
    let rows = store.state_count(&id).await.unwrap();
    tenure.end();
    assert!(
        b.store_prekeys_batch(&[(8, vec![2].into())], false)
            .await
            .is_err()
    );
    assert!(b.remove_prekey(7).await.is_err());
    assert!(b.wipe().await.is_err());
    assert_eq!(
        store.state_count(&id).await.unwrap(),
        rows,
        "nothing changed"
    );
    assert_eq!(
        b.get_max_prekey_id().await.unwrap(),
        7,
        "reads still answer"
    );
}
