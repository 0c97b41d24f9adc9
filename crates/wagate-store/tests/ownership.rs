//! Nodes and instance leases (§19) on both backends: nodes share the instances that should be
//! connected, a lease taken over fences the node that held it, and a restarted node starts over.

use wagate_core::account::{Account, AccountName};
use wagate_core::instance::{InstanceStatus, NewInstance, Settings};
use wagate_core::node::{Epoch, Fence, NodeId, NodeState, NodeStatus};
use wagate_core::phone::PhoneNumber;
use wagate_core::plan::Plan;
use wagate_core::sandbox_reach::{ConnectionClaim, Whereabouts};
use wagate_core::store::prelude::*;
use wagate_core::store::{ConnectionState, StoreError};
use wagate_core::{AccountId, InstanceId, Timestamp};
use wagate_store::SqlStore;
use wagate_testkit::{Backend, TestDb, on_both_backends};

const SECOND: i64 = 1_000;

async fn open(backend: Backend) -> (TestDb, SqlStore) {
    let db = TestDb::new(backend).await;
    let store = SqlStore::connect(&db.url).await.expect("connect");
    (db, store)
}

fn node(name: &str) -> NodeId {
    NodeId::parse(name).unwrap()
}

/// `n` instances with a saved session (instances that should be connected), and one without.
async fn instances(store: &SqlStore, n: usize) -> Vec<InstanceId> {
    let account = Account {
        id: AccountId::generate(),
        name: AccountName::parse("Acme").unwrap(),
        plan: Plan::Enterprise,
        rate_limits: None,
        created_at: Timestamp::now(),
    };
    store.insert_account(&account).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..=n {
        let inst = NewInstance {
            name: AccountName::parse(&format!("i{i}")).unwrap(),
            webhook_url: None,
            webhook_events: vec![],
            settings: Settings::default(),
        }
        .into_instance(account.id.clone(), Timestamp::now());
        store.insert_instance(&inst, None).await.unwrap();
        if i < n {
            store
                .set_session(&Fence::Unheld(inst.id.clone()), Some("{}"))
                .await
                .unwrap();
            ids.push(inst.id);
        }
    }
    ids
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

async fn nodes_share_what_should_be_connected(backend: Backend) {
    let (_db, store) = open(backend).await;
    let ids = instances(&store, 5).await;
    let now = Timestamp::now().millis();
    assert_eq!(store.count_should_be_connected().await.unwrap(), 5);
    let a = store
        .claim_unheld(&node("a"), at(now), at(now + 10 * SECOND), 3)
        .await
        .unwrap();
    let b = store
        .claim_unheld(&node("b"), at(now), at(now + 10 * SECOND), 3)
        .await
        .unwrap();
    assert_eq!(a.len(), 3, "a takes its three");
    assert_eq!(b.len(), 2, "b takes what is left, never a's");
    let mut all: Vec<_> = a.iter().chain(&b).map(|l| l.instance.clone()).collect();
    all.sort();
    assert_eq!(all, ids, "the instance without a session is nobody's");
    assert!(a.iter().chain(&b).all(|l| l.epoch == Epoch(1)));
    assert_eq!(
        store.holder_of(&b[0].instance, at(now)).await.unwrap(),
        Some(node("b"))
    );
    // Renewing answers what is still held; nothing is left to claim.
    let renewed = store
        .renew_leases(&node("a"), at(now + SECOND), at(now + 11 * SECOND))
        .await
        .unwrap();
    assert_eq!(renewed.len(), 3);
    assert!(
        store
            .claim_unheld(&node("c"), at(now + SECOND), at(now + 11 * SECOND), 5)
            .await
            .unwrap()
            .is_empty()
    );
    // b stops renewing: once its leases run out, c takes them under the next epoch.
    let later = now + 10 * SECOND + 1;
    let c = store
        .claim_unheld(&node("c"), at(later), at(later + 10 * SECOND), 5)
        .await
        .unwrap();
    let mut taken: Vec<_> = c.iter().map(|l| l.instance.clone()).collect();
    taken.sort();
    let mut was_b: Vec<_> = b.iter().map(|l| l.instance.clone()).collect();
    was_b.sort();
    assert_eq!(
        taken, was_b,
        "c takes b's lapsed leases, not a's renewed ones"
    );
    assert!(c.iter().all(|l| l.epoch == Epoch(2)));
    assert!(
        store
            .renew_leases(&node("b"), at(later), at(later + 10 * SECOND))
            .await
            .unwrap()
            .is_empty(),
        "b has nothing left to renew"
    );
}

async fn a_lease_taken_over_fences_its_old_holder(backend: Backend) {
    let (_db, store) = open(backend).await;
    let id = instances(&store, 1).await.remove(0);
    let now = Timestamp::now();
    let old = store
        .claim_instance(&id, &node("a"), now, now.plus_millis(150))
        .await
        .unwrap()
        .expect("free");
    let mut state = ConnectionState::of(&store.find_instance(&id).await.unwrap().unwrap());
    state.status = InstanceStatus::Connected;
    store
        .save_connection(&Fence::Held(old.clone()), &state)
        .await
        .expect("the holder writes");
    assert!(
        matches!(
            store
                .save_connection(&Fence::Unheld(id.clone()), &state)
                .await,
            Err(StoreError::Fenced(_))
        ),
        "nobody else writes while a holds it"
    );
    let refused = store
        .claim_instance(
            &id,
            &node("b"),
            Timestamp::now(),
            Timestamp::now().plus_millis(10_000),
        )
        .await
        .unwrap();
    assert_eq!(refused, Err(node("a")));
    // a stalls past its lease; b takes the instance over.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let now = Timestamp::now();
    let new = store
        .claim_instance(&id, &node("b"), now, now.plus_millis(10_000))
        .await
        .unwrap()
        .expect("lapsed");
    assert_eq!(new.epoch, Epoch(old.epoch.0 + 1));
    state.status = InstanceStatus::Connecting;
    store
        .save_connection(&Fence::Held(new.clone()), &state)
        .await
        .unwrap();
    // a wakes up and writes as if nothing happened: every write is refused, nothing changes.
    let mut stale = state.clone();
    stale.status = InstanceStatus::Disconnected;
    assert!(matches!(
        store
            .save_connection(&Fence::Held(old.clone()), &stale)
            .await,
        Err(StoreError::Fenced(_))
    ));
    assert!(matches!(
        store.set_session(&Fence::Held(old.clone()), None).await,
        Err(StoreError::Fenced(_))
    ));
    let inst = store.find_instance(&id).await.unwrap().unwrap();
    assert_eq!(inst.status, InstanceStatus::Connecting);
    assert!(
        inst.has_session,
        "the stale logout did not take the session"
    );
    // b gives the instance back: its own writes are refused from then on, and the instance is
    // nobody's.
    store.release_lease(&new).await.unwrap();
    assert!(matches!(
        store.save_connection(&Fence::Held(new), &state).await,
        Err(StoreError::Fenced(_))
    ));
    store
        .save_connection(&Fence::Unheld(id.clone()), &state)
        .await
        .expect("a released instance is nobody's");
}

async fn a_restarted_node_starts_over(backend: Backend) {
    let (_db, store) = open(backend).await;
    let ids = instances(&store, 2).await;
    let t0 = Timestamp::now();
    store.register_node(&node("a"), "first", t0).await.unwrap();
    store.register_node(&node("b"), "only", t0).await.unwrap();
    let held = store
        .claim_unheld(&node("a"), t0, t0.plus_millis(10_000), 5)
        .await
        .unwrap();
    assert_eq!(held.len(), 2);
    let listed = store.list_nodes(t0).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|n| (n.id.as_str(), n.instances, n.status(t0)))
            .collect::<Vec<_>>(),
        vec![("a", 2, NodeStatus::Up), ("b", 0, NodeStatus::Up)]
    );
    // The same name registers again (a restart, or a second process by mistake): the leases
    // are given back, and the earlier process's heartbeat fails from then on.
    store.register_node(&node("a"), "second", t0).await.unwrap();
    assert!(
        !store
            .heartbeat(&node("a"), "first", NodeState::Up, t0)
            .await
            .unwrap()
    );
    assert!(
        store
            .heartbeat(&node("a"), "second", NodeState::Draining, t0)
            .await
            .unwrap()
    );
    for id in &ids {
        assert_eq!(store.holder_of(id, t0).await.unwrap(), None);
    }
    let again = store
        .claim_unheld(&node("b"), t0, t0.plus_millis(10_000), 5)
        .await
        .unwrap();
    assert!(again.iter().all(|l| l.epoch == Epoch(2)));
    let later = t0.plus_millis(10_001);
    let listed = store.list_nodes(later).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|n| (n.id.as_str(), n.instances, n.status(later)))
            .collect::<Vec<_>>(),
        vec![("a", 0, NodeStatus::Gone), ("b", 0, NodeStatus::Gone)],
        "silent nodes are gone, and their lapsed leases count for nobody"
    );
    assert_eq!(store.release_leases(&node("b")).await.unwrap(), 2);
}

/// The sandbox network across nodes: a connection counts while its process is live, a second
/// live one is refused ("stream replaced"), and receivers are found by their number.
async fn sandbox_connections_follow_live_processes(backend: Backend) {
    let (_db, store) = open(backend).await;
    let ids = instances(&store, 2).await;
    let (id, other) = (&ids[0], &ids[1]);
    let phone = PhoneNumber::parse("5511988887777").unwrap();
    let inst = store.find_instance(id).await.unwrap().unwrap();
    let mut linked = ConnectionState::of(&inst);
    linked.phone = Some(phone.clone());
    store
        .save_connection(&Fence::Unheld(id.clone()), &linked)
        .await
        .unwrap();
    let t0 = Timestamp::now();
    let nobody = PhoneNumber::parse("5511900001111").unwrap();
    assert_eq!(
        store.sandbox_whereabouts(&nobody, t0).await.unwrap(),
        Whereabouts::Nowhere
    );
    assert_eq!(
        store.sandbox_whereabouts(&phone, t0).await.unwrap(),
        Whereabouts::Offline,
        "linked, connected nowhere"
    );
    store.register_node(&node("a"), "a1", t0).await.unwrap();
    store.register_node(&node("b"), "b1", t0).await.unwrap();
    let connect = |node_id: &'static str, incarnation: &'static str, at: Timestamp| {
        let store = &store;
        async move {
            store
                .sandbox_connect(id, &node(node_id), incarnation, at)
                .await
                .unwrap()
        }
    };
    assert_eq!(connect("a", "a1", t0).await, ConnectionClaim::Taken);
    let on_a = Whereabouts::Connected {
        instance: id.clone(),
        node: node("a"),
    };
    assert_eq!(store.sandbox_whereabouts(&phone, t0).await.unwrap(), on_a);
    assert_eq!(
        connect("b", "b1", t0).await,
        ConnectionClaim::LiveOn(node("a")),
        "a second live connection is refused"
    );
    assert_eq!(
        connect("a", "a1", t0).await,
        ConnectionClaim::Taken,
        "the same process reconnects"
    );
    assert_eq!(
        store
            .sandbox_connect(other, &node("b"), "b1", t0)
            .await
            .unwrap(),
        ConnectionClaim::Taken,
        "another instance is another session"
    );
    // a restarts: its earlier life's connection counts for nothing, and a late disconnect from
    // that life does not undo b's.
    store.register_node(&node("a"), "a2", t0).await.unwrap();
    assert_eq!(
        store.sandbox_whereabouts(&phone, t0).await.unwrap(),
        Whereabouts::Offline
    );
    assert_eq!(connect("b", "b1", t0).await, ConnectionClaim::Taken);
    store.sandbox_disconnect(id, "a1").await.unwrap();
    let on_b = Whereabouts::Connected {
        instance: id.clone(),
        node: node("b"),
    };
    assert_eq!(store.sandbox_whereabouts(&phone, t0).await.unwrap(), on_b);
    // b falls silent for a lease: its connection counts no more.
    let later = t0.plus_millis(10_001);
    assert_eq!(
        store.sandbox_whereabouts(&phone, later).await.unwrap(),
        Whereabouts::Offline
    );
    store
        .heartbeat(&node("a"), "a2", NodeState::Up, later)
        .await
        .unwrap();
    assert_eq!(connect("a", "a2", later).await, ConnectionClaim::Taken);
    // A node that stopped cleanly holds nothing, whatever its last heartbeat.
    store
        .heartbeat(&node("a"), "a2", NodeState::Stopped, later)
        .await
        .unwrap();
    assert_eq!(
        store.sandbox_whereabouts(&phone, later).await.unwrap(),
        Whereabouts::Offline
    );
    store.sandbox_disconnect(id, "a2").await.unwrap();
    store
        .heartbeat(&node("b"), "b1", NodeState::Up, later)
        .await
        .unwrap();
    assert_eq!(connect("b", "b1", later).await, ConnectionClaim::Taken);
}

/// Saves of several instances' connection states go together; each is fenced on its own: a
/// refused one is answered `Fenced` and changes nothing, the others are saved all the same.
async fn connection_states_saved_together_are_each_fenced(backend: Backend) {
    let (_db, store) = open(backend).await;
    let ids = instances(&store, 3).await;
    let now = Timestamp::now();
    let mut leases = Vec::new();
    for id in &ids[..2] {
        let lease = store
            .claim_instance(id, &node("a"), now, now.plus_millis(10_000))
            .await
            .unwrap()
            .expect("free");
        leases.push(lease);
    }
    // The third is held by b: a's unheld write of it is refused.
    store
        .claim_instance(&ids[2], &node("b"), now, now.plus_millis(10_000))
        .await
        .unwrap()
        .expect("free");
    let mut batch = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let mut state = ConnectionState::of(&store.find_instance(id).await.unwrap().unwrap());
        state.status = InstanceStatus::Connected;
        let fence = match leases.get(i) {
            Some(l) => Fence::Held(l.clone()),
            None => Fence::Unheld(id.clone()),
        };
        batch.push((fence, state));
    }
    let answers = store.save_connections(&batch).await.unwrap();
    assert_eq!(answers.len(), 3);
    assert!(answers[0].is_ok() && answers[1].is_ok(), "{answers:?}");
    assert_eq!(answers[2].as_ref().unwrap_err().0, ids[2]);
    for (id, status) in ids.iter().zip([
        InstanceStatus::Connected,
        InstanceStatus::Connected,
        InstanceStatus::Disconnected,
    ]) {
        assert_eq!(
            store.find_instance(id).await.unwrap().unwrap().status,
            status
        );
    }
}

on_both_backends!(
    connection_states_saved_together_are_each_fenced,
    sandbox_connections_follow_live_processes,
    nodes_share_what_should_be_connected,
    a_lease_taken_over_fences_its_old_holder,
    a_restarted_node_starts_over,
);
