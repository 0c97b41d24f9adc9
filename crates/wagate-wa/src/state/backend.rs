//! whatsapp-rust's `Backend` (57 required methods over 5 traits) mapped onto the keyed-blob
//! primitives of `EngineStateStore`, for one instance.
//!
//! Read-modify-write methods the crate documents as atomic (tc tokens, LID mapping, msg secrets)
//! are serialised with a per-instance async mutex: one node owns an instance at a time, so an
//! in-process lock suffices and the database only provides atomic multi-row batches.
//! Every write is synchronous and durable when it returns: the crate already coalesces Signal
//! writes itself, and a write-behind layer here would desynchronise ratchets on a crash.

use std::sync::Arc;

use async_trait::async_trait;
use wagate_core::InstanceId;
use wagate_core::engine_state::{EngineStateStore, StateOp};
use wagate_core::node::{Fenced, Tenure};
use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::wacore::appstate::hash::HashState;
use whatsapp_rust::wacore::appstate::processor::AppStateMutationMAC;
use whatsapp_rust::wacore::store::Device;
use whatsapp_rust::wacore::store::error::{Result, StoreError};
use whatsapp_rust::wacore::store::traits::*;

use crate::state::ns::Ns;

/// One instance's whatsapp-rust state in wagate's database.
pub struct KvBackend {
    store: Arc<dyn EngineStateStore>,
    instance: InstanceId,
    /// Serialises read-modify-write sequences (see module doc).
    rmw: tokio::sync::Mutex<()>,
    /// Keys are written only while this node may act for the instance (§19): a node stalled
    /// past its lease must not overwrite what the node that took the instance over wrote.
    tenure: Tenure,
}

/// One write of a batch: `StateOp` with a typed namespace.
enum Op {
    Put {
        ns: Ns,
        key: Vec<u8>,
        value: Vec<u8>,
        ts: Option<i64>,
    },
    Delete {
        ns: Ns,
        key: Vec<u8>,
    },
    DeletePrefix {
        ns: Ns,
        prefix: Vec<u8>,
    },
}

impl From<Op> for StateOp {
    fn from(op: Op) -> Self {
        match op {
            Op::Put { ns, key, value, ts } => StateOp::Put {
                ns: ns as i32,
                key,
                value,
                ts,
            },
            Op::Delete { ns, key } => StateOp::Delete { ns: ns as i32, key },
            Op::DeletePrefix { ns, prefix } => StateOp::DeletePrefix {
                ns: ns as i32,
                prefix,
            },
        }
    }
}

impl KvBackend {
    pub fn new(store: Arc<dyn EngineStateStore>, instance: InstanceId, tenure: Tenure) -> Self {
        Self {
            store,
            instance,
            rmw: tokio::sync::Mutex::new(()),
            tenure,
        }
    }

    /// Refuses a write once the tenure has ended.
    fn may_write(&self) -> Result<()> {
        if self.tenure.holds() {
            Ok(())
        } else {
            Err(db(Fenced(self.instance.clone()).into()))
        }
    }

    /// Keeps one of wagate's own rows beside whatsapp-rust's (they go with the session).
    pub async fn put_own(&self, ns: Ns, key: &[u8], value: Vec<u8>) -> Result<()> {
        self.may_write()?;
        let op: StateOp = put(ns, key.to_vec(), value).into();
        self.store
            .state_apply(&self.instance, &[op])
            .await
            .map_err(db)
    }

    pub async fn get_own(&self, ns: Ns, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.store
            .state_get(&self.instance, ns as i32, key)
            .await
            .map_err(db)
    }

    /// Removes all of this instance's session state (logout, deletion).
    pub async fn wipe(&self) -> Result<()> {
        self.may_write()?;
        self.store.state_wipe(&self.instance).await.map_err(db)
    }
}

fn db(e: wagate_core::store::StoreError) -> StoreError {
    StoreError::Database(Box::new(e))
}
fn ser(e: whatsapp_rust::serde_json::Error) -> StoreError {
    StoreError::Serialization(Box::new(e))
}
fn to_json<T: whatsapp_rust::serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    whatsapp_rust::serde_json::to_vec(v).map_err(ser)
}
fn from_json<T: whatsapp_rust::serde::de::DeserializeOwned>(v: &[u8]) -> Result<T> {
    whatsapp_rust::serde_json::from_slice(v).map_err(ser)
}
/// Composite keys: parts joined with 0x00 (JIDs, ids and names never contain NUL).
fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p);
    }
    k
}
/// Big-endian so byte order is numeric order (`max_key`).
fn id_key(id: u32) -> Vec<u8> {
    id.to_be_bytes().to_vec()
}
fn id_of(k: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(k).ok().map(u32::from_be_bytes)
}
fn put(ns: Ns, key: Vec<u8>, value: Vec<u8>) -> Op {
    Op::Put {
        ns,
        key,
        value,
        ts: None,
    }
}
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl KvBackend {
    async fn get(&self, ns: Ns, k: &[u8]) -> Result<Option<Vec<u8>>> {
        self.store
            .state_get(&self.instance, ns as i32, k)
            .await
            .map_err(db)
    }
    async fn scan(&self, ns: Ns, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.store
            .state_scan(&self.instance, ns as i32, prefix)
            .await
            .map_err(db)
    }
    async fn exists_prefix(&self, ns: Ns, prefix: &[u8]) -> Result<bool> {
        Ok(!self.scan(ns, prefix).await?.is_empty())
    }
    async fn max_key(&self, ns: Ns) -> Result<Option<Vec<u8>>> {
        self.store
            .state_max_key(&self.instance, ns as i32)
            .await
            .map_err(db)
    }
    async fn take(&self, ns: Ns, k: &[u8]) -> Result<Option<Vec<u8>>> {
        self.may_write()?;
        self.store
            .state_take(&self.instance, ns as i32, k)
            .await
            .map_err(db)
    }
    async fn delete_older_than(&self, ns: Ns, cutoff: i64) -> Result<u32> {
        self.may_write()?;
        self.store
            .state_delete_older_than(&self.instance, ns as i32, cutoff)
            .await
            .map(|n| n.min(u32::MAX as u64) as u32)
            .map_err(db)
    }
    async fn apply(&self, ops: Vec<Op>) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        self.may_write()?;
        let ops: Vec<StateOp> = ops.into_iter().map(StateOp::from).collect();
        self.store
            .state_apply(&self.instance, &ops)
            .await
            .map_err(db)
    }
    async fn put1(&self, ns: Ns, k: Vec<u8>, v: Vec<u8>) -> Result<()> {
        self.apply(vec![put(ns, k, v)]).await
    }
    async fn del1(&self, ns: Ns, k: Vec<u8>) -> Result<()> {
        self.apply(vec![Op::Delete { ns, key: k }]).await
    }
}

// ---------------------------------------------------------------- SignalStore

#[async_trait]
impl SignalStore for KvBackend {
    async fn put_identity(&self, address: &str, key: [u8; 32]) -> Result<()> {
        self.put1(Ns::Identity, address.as_bytes().to_vec(), key.to_vec())
            .await
    }
    async fn put_identities_batch(&self, identities: &[(Arc<str>, [u8; 32])]) -> Result<()> {
        self.apply(
            identities
                .iter()
                .map(|(a, k)| put(Ns::Identity, a.as_bytes().to_vec(), k.to_vec()))
                .collect(),
        )
        .await
    }
    async fn load_identity(&self, address: &str) -> Result<Option<[u8; 32]>> {
        match self.get(Ns::Identity, address.as_bytes()).await? {
            Some(v) => Ok(Some(v.try_into().map_err(|_| {
                StoreError::Validation("identity must be 32 bytes".into())
            })?)),
            None => Ok(None),
        }
    }
    async fn delete_identity(&self, address: &str) -> Result<()> {
        self.del1(Ns::Identity, address.as_bytes().to_vec()).await
    }
    async fn get_session(&self, address: &str) -> Result<Option<Bytes>> {
        Ok(self
            .get(Ns::Session, address.as_bytes())
            .await?
            .map(Bytes::from))
    }
    async fn put_session(&self, address: &str, session: &[u8]) -> Result<()> {
        self.put1(Ns::Session, address.as_bytes().to_vec(), session.to_vec())
            .await
    }
    async fn put_sessions_batch(&self, sessions: &[(Arc<str>, Bytes)]) -> Result<()> {
        self.apply(
            sessions
                .iter()
                .map(|(a, s)| put(Ns::Session, a.as_bytes().to_vec(), s.to_vec()))
                .collect(),
        )
        .await
    }
    async fn delete_session(&self, address: &str) -> Result<()> {
        self.del1(Ns::Session, address.as_bytes().to_vec()).await
    }
    async fn has_session(&self, address: &str) -> Result<bool> {
        Ok(self.get(Ns::Session, address.as_bytes()).await?.is_some())
    }
    async fn has_signal_state_for_user(&self, user: &str) -> Result<bool> {
        // Addresses are `user@server` or `user:dev@server`.
        for ns in [Ns::Session, Ns::Identity] {
            for sep in ["@", ":"] {
                let p = format!("{user}{sep}");
                if self.exists_prefix(ns, p.as_bytes()).await? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    async fn store_prekey(&self, id: u32, record: &[u8], _uploaded: bool) -> Result<()> {
        // The uploaded flag is never read back through the trait (the device's
        // `first_unupload_pre_key_id` watermark is the source of truth), so it
        // is not stored — same as the crate's InMemoryBackend.
        self.put1(Ns::PreKey, id_key(id), record.to_vec()).await
    }
    async fn store_prekeys_batch(&self, keys: &[(u32, Bytes)], _uploaded: bool) -> Result<()> {
        self.apply(
            keys.iter()
                .map(|(id, r)| put(Ns::PreKey, id_key(*id), r.to_vec()))
                .collect(),
        )
        .await
    }
    async fn load_prekey(&self, id: u32) -> Result<Option<Bytes>> {
        Ok(self.get(Ns::PreKey, &id_key(id)).await?.map(Bytes::from))
    }
    async fn mark_prekeys_uploaded(&self, _ids: &[u32]) -> Result<()> {
        // UPDATE-only by contract; nothing to update since the flag is not stored.
        Ok(())
    }
    async fn remove_prekey(&self, id: u32) -> Result<()> {
        self.del1(Ns::PreKey, id_key(id)).await
    }
    async fn get_max_prekey_id(&self) -> Result<u32> {
        Ok(self
            .max_key(Ns::PreKey)
            .await?
            .as_deref()
            .and_then(id_of)
            .unwrap_or(0))
    }
    async fn store_signed_prekey(&self, id: u32, record: &[u8]) -> Result<()> {
        self.put1(Ns::SignedPreKey, id_key(id), record.to_vec())
            .await
    }
    async fn load_signed_prekey(&self, id: u32) -> Result<Option<Vec<u8>>> {
        self.get(Ns::SignedPreKey, &id_key(id)).await
    }
    async fn load_all_signed_prekeys(&self) -> Result<Vec<(u32, Vec<u8>)>> {
        let rows = self.scan(Ns::SignedPreKey, b"").await?;
        Ok(rows
            .into_iter()
            .filter_map(|(k, v)| id_of(&k).map(|id| (id, v)))
            .collect())
    }
    async fn remove_signed_prekey(&self, id: u32) -> Result<()> {
        self.del1(Ns::SignedPreKey, id_key(id)).await
    }
    async fn put_sender_key(&self, address: &str, record: &[u8]) -> Result<()> {
        self.put1(Ns::SenderKey, address.as_bytes().to_vec(), record.to_vec())
            .await
    }
    async fn put_sender_keys_batch(&self, sender_keys: &[(Arc<str>, Bytes)]) -> Result<()> {
        self.apply(
            sender_keys
                .iter()
                .map(|(a, r)| put(Ns::SenderKey, a.as_bytes().to_vec(), r.to_vec()))
                .collect(),
        )
        .await
    }
    async fn get_sender_key(&self, address: &str) -> Result<Option<Vec<u8>>> {
        self.get(Ns::SenderKey, address.as_bytes()).await
    }
    async fn delete_sender_key(&self, address: &str) -> Result<()> {
        self.del1(Ns::SenderKey, address.as_bytes().to_vec()).await
    }
}

// -------------------------------------------------------------- AppSyncStore

#[async_trait]
impl AppSyncStore for KvBackend {
    async fn get_sync_key(&self, key_id: &[u8]) -> Result<Option<AppStateSyncKey>> {
        self.get(Ns::SyncKey, key_id)
            .await?
            .map(|v| from_json(&v))
            .transpose()
    }
    async fn set_sync_key(&self, key_id: &[u8], k: AppStateSyncKey) -> Result<()> {
        // The key and the "latest key" pointer move together.
        self.apply(vec![
            put(Ns::SyncKey, key_id.to_vec(), to_json(&k)?),
            put(Ns::SyncKeyLatest, vec![], key_id.to_vec()),
        ])
        .await
    }
    async fn get_version(&self, name: &str) -> Result<HashState> {
        Ok(
            match self.get(Ns::AppStateVersion, name.as_bytes()).await? {
                Some(v) => from_json(&v)?,
                None => HashState::default(),
            },
        )
    }
    async fn set_version(&self, name: &str, state: HashState) -> Result<()> {
        self.put1(
            Ns::AppStateVersion,
            name.as_bytes().to_vec(),
            to_json(&state)?,
        )
        .await
    }
    async fn put_mutation_macs(
        &self,
        name: &str,
        _version: u64,
        mutations: &[AppStateMutationMAC],
    ) -> Result<()> {
        self.apply(
            mutations
                .iter()
                .map(|m| {
                    put(
                        Ns::MutationMac,
                        key(&[name.as_bytes(), &m.index_mac]),
                        m.value_mac.clone(),
                    )
                })
                .collect(),
        )
        .await
    }
    async fn get_mutation_mac(&self, name: &str, index_mac: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get(Ns::MutationMac, &key(&[name.as_bytes(), index_mac]))
            .await
    }
    async fn delete_mutation_macs(&self, name: &str, index_macs: &[Vec<u8>]) -> Result<()> {
        self.apply(
            index_macs
                .iter()
                .map(|im| Op::Delete {
                    ns: Ns::MutationMac,
                    key: key(&[name.as_bytes(), im]),
                })
                .collect(),
        )
        .await
    }
    async fn clear_mutation_macs(&self, name: &str) -> Result<()> {
        self.apply(vec![Op::DeletePrefix {
            ns: Ns::MutationMac,
            prefix: key(&[name.as_bytes(), b""]),
        }])
        .await
    }
    async fn get_latest_sync_key_id(&self) -> Result<Option<Vec<u8>>> {
        self.get(Ns::SyncKeyLatest, b"").await
    }
}

// ------------------------------------------------------------- ProtocolStore

#[async_trait]
impl ProtocolStore for KvBackend {
    // --- sent messages (retry support) ---
    async fn store_sent_message(
        &self,
        chat_jid: &str,
        message_id: &str,
        payload: &[u8],
    ) -> Result<()> {
        let op = Op::Put {
            ns: Ns::SentMessage,
            key: key(&[chat_jid.as_bytes(), message_id.as_bytes()]),
            value: payload.to_vec(),
            ts: Some(now()),
        };
        self.apply(vec![op]).await
    }
    async fn take_sent_message(&self, chat_jid: &str, message_id: &str) -> Result<Option<Vec<u8>>> {
        self.take(
            Ns::SentMessage,
            &key(&[chat_jid.as_bytes(), message_id.as_bytes()]),
        )
        .await
    }
    async fn delete_expired_sent_messages(&self, cutoff_timestamp: i64) -> Result<u32> {
        self.delete_older_than(Ns::SentMessage, cutoff_timestamp)
            .await
    }

    // --- pending inbound (durability hook buffer) ---
    async fn store_pending_inbound(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
        message: &[u8],
    ) -> Result<()> {
        self.store_pending_inbound_batch(&[PendingInboundRow {
            chat,
            sender,
            id,
            message,
        }])
        .await
    }
    async fn get_pending_inbound(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>> {
        self.get(
            Ns::PendingInbound,
            &key(&[chat.as_bytes(), sender.as_bytes(), id.as_bytes()]),
        )
        .await
    }
    async fn delete_pending_inbound(&self, chat: &str, sender: &str, id: &str) -> Result<()> {
        self.del1(
            Ns::PendingInbound,
            key(&[chat.as_bytes(), sender.as_bytes(), id.as_bytes()]),
        )
        .await
    }
    async fn delete_expired_pending_inbound(&self, cutoff_timestamp: i64) -> Result<u32> {
        self.delete_older_than(Ns::PendingInbound, cutoff_timestamp)
            .await
    }
    async fn store_pending_inbound_batch(&self, rows: &[PendingInboundRow<'_>]) -> Result<()> {
        let ts = now();
        self.apply(
            rows.iter()
                .map(|r| Op::Put {
                    ns: Ns::PendingInbound,
                    key: key(&[r.chat.as_bytes(), r.sender.as_bytes(), r.id.as_bytes()]),
                    value: r.message.to_vec(),
                    ts: Some(ts),
                })
                .collect(),
        )
        .await
    }
    async fn delete_pending_inbound_batch(&self, keys: &[PendingInboundKey<'_>]) -> Result<()> {
        self.apply(
            keys.iter()
                .map(|k| Op::Delete {
                    ns: Ns::PendingInbound,
                    key: key(&[k.chat.as_bytes(), k.sender.as_bytes(), k.id.as_bytes()]),
                })
                .collect(),
        )
        .await
    }

    async fn get_sender_key_devices(&self, group_jid: &str) -> Result<Vec<(String, bool)>> {
        let prefix = key(&[group_jid.as_bytes(), b""]);
        let rows = self.scan(Ns::SenderKeyDevice, &prefix).await?;
        Ok(rows
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(&k[prefix.len()..]).into_owned(),
                    v.first() == Some(&1),
                )
            })
            .collect())
    }
    async fn set_sender_key_status(&self, group_jid: &str, entries: &[(&str, bool)]) -> Result<()> {
        self.apply(
            entries
                .iter()
                .map(|(dev, has)| {
                    put(
                        Ns::SenderKeyDevice,
                        key(&[group_jid.as_bytes(), dev.as_bytes()]),
                        vec![*has as u8],
                    )
                })
                .collect(),
        )
        .await
    }
    async fn clear_sender_key_devices(&self, group_jid: &str) -> Result<()> {
        self.apply(vec![Op::DeletePrefix {
            ns: Ns::SenderKeyDevice,
            prefix: key(&[group_jid.as_bytes(), b""]),
        }])
        .await
    }
    async fn delete_sender_key_device_rows(&self, device_jids: &[&str]) -> Result<()> {
        if device_jids.is_empty() {
            return Ok(());
        }
        // Rare (identity change): scan the namespace and delete matching devices in every group.
        let rows = self.scan(Ns::SenderKeyDevice, b"").await?;
        let ops = rows
            .into_iter()
            .filter(|(k, _)| {
                let dev = k.rsplit(|b| *b == 0).next().unwrap_or_default();
                device_jids.iter().any(|d| d.as_bytes() == dev)
            })
            .map(|(k, _)| Op::Delete {
                ns: Ns::SenderKeyDevice,
                key: k,
            })
            .collect();
        self.apply(ops).await
    }
    async fn clear_all_sender_key_devices(&self) -> Result<()> {
        self.apply(vec![Op::DeletePrefix {
            ns: Ns::SenderKeyDevice,
            prefix: vec![],
        }])
        .await
    }

    async fn get_lid_mapping(&self, lid: &str) -> Result<Option<LidPnMappingEntry>> {
        self.get(Ns::LidToEntry, lid.as_bytes())
            .await?
            .map(|v| from_json(&v))
            .transpose()
    }
    async fn get_pn_mapping(&self, phone: &str) -> Result<Option<LidPnMappingEntry>> {
        match self.get(Ns::PnToLid, phone.as_bytes()).await? {
            Some(lid) => self
                .get(Ns::LidToEntry, &lid)
                .await?
                .map(|v| from_json(&v))
                .transpose(),
            None => Ok(None),
        }
    }
    async fn put_lid_mapping(&self, entry: &LidPnMappingEntry) -> Result<()> {
        self.put_lid_mappings(std::slice::from_ref(entry)).await
    }
    async fn put_lid_mappings(&self, entries: &[LidPnMappingEntry]) -> Result<()> {
        // Read old reverse entries, then write forward + reverse (and drop a stale
        // reverse entry) in one batch, under the RMW lock.
        let _g = self.rmw.lock().await;
        let mut ops = Vec::with_capacity(entries.len() * 3);
        for e in entries {
            if let Some(old) = self.get_lid_mapping(&e.lid).await?
                && old.phone_number != e.phone_number
            {
                ops.push(Op::Delete {
                    ns: Ns::PnToLid,
                    key: old.phone_number.into_bytes(),
                });
            }
            ops.push(put(Ns::LidToEntry, e.lid.as_bytes().to_vec(), to_json(e)?));
            ops.push(put(
                Ns::PnToLid,
                e.phone_number.as_bytes().to_vec(),
                e.lid.as_bytes().to_vec(),
            ));
        }
        self.apply(ops).await
    }
    async fn get_all_lid_mappings(&self) -> Result<Vec<LidPnMappingEntry>> {
        let rows = self.scan(Ns::LidToEntry, b"").await?;
        rows.iter().map(|(_, v)| from_json(v)).collect()
    }

    async fn save_base_key(&self, address: &str, message_id: &str, base_key: &[u8]) -> Result<()> {
        self.put1(
            Ns::BaseKey,
            key(&[address.as_bytes(), message_id.as_bytes()]),
            base_key.to_vec(),
        )
        .await
    }
    async fn has_same_base_key(
        &self,
        address: &str,
        message_id: &str,
        current_base_key: &[u8],
    ) -> Result<bool> {
        Ok(self
            .get(
                Ns::BaseKey,
                &key(&[address.as_bytes(), message_id.as_bytes()]),
            )
            .await?
            .is_some_and(|k| k == current_base_key))
    }
    async fn delete_base_key(&self, address: &str, message_id: &str) -> Result<()> {
        self.del1(
            Ns::BaseKey,
            key(&[address.as_bytes(), message_id.as_bytes()]),
        )
        .await
    }

    async fn update_device_list(&self, record: DeviceListRecord) -> Result<()> {
        self.update_device_lists(vec![record]).await
    }
    async fn update_device_lists(&self, records: Vec<DeviceListRecord>) -> Result<()> {
        let mut ops = Vec::with_capacity(records.len());
        for r in &records {
            ops.push(put(Ns::DeviceList, r.user.as_bytes().to_vec(), to_json(r)?));
        }
        self.apply(ops).await
    }
    async fn get_devices(&self, user: &str) -> Result<Option<DeviceListRecord>> {
        self.get(Ns::DeviceList, user.as_bytes())
            .await?
            .map(|v| from_json(&v))
            .transpose()
    }
    async fn delete_devices(&self, user: &str) -> Result<()> {
        self.del1(Ns::DeviceList, user.as_bytes().to_vec()).await
    }

    async fn get_group_metadata(&self, group_jid: &str) -> Result<Option<Vec<u8>>> {
        self.get(Ns::GroupMeta, group_jid.as_bytes()).await
    }
    async fn put_group_metadata(&self, group_jid: &str, blob: &[u8]) -> Result<()> {
        self.put1(Ns::GroupMeta, group_jid.as_bytes().to_vec(), blob.to_vec())
            .await
    }
    async fn delete_group_metadata(&self, group_jid: &str) -> Result<()> {
        self.del1(Ns::GroupMeta, group_jid.as_bytes().to_vec())
            .await
    }

    async fn get_tc_token(&self, jid: &str) -> Result<Option<TcTokenEntry>> {
        self.get(Ns::TcToken, jid.as_bytes())
            .await?
            .map(|v| from_json(&v))
            .transpose()
    }
    async fn put_tc_token(&self, jid: &str, entry: &TcTokenEntry) -> Result<()> {
        self.put1(Ns::TcToken, jid.as_bytes().to_vec(), to_json(entry)?)
            .await
    }
    async fn delete_tc_token(&self, jid: &str) -> Result<()> {
        self.del1(Ns::TcToken, jid.as_bytes().to_vec()).await
    }
    async fn get_all_tc_token_jids(&self) -> Result<Vec<String>> {
        let rows = self.scan(Ns::TcToken, b"").await?;
        Ok(rows
            .into_iter()
            .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
            .collect())
    }
    async fn delete_expired_tc_tokens(&self, token_cutoff: i64, sender_cutoff: i64) -> Result<u32> {
        // Two cutoffs → filter in Rust (rows = contacts with tokens; swept rarely).
        let _g = self.rmw.lock().await;
        let rows = self.scan(Ns::TcToken, b"").await?;
        let mut ops = Vec::new();
        for (k, v) in rows {
            let e: TcTokenEntry = from_json(&v)?;
            let token_live = !e.token.is_empty() && e.token_timestamp >= token_cutoff;
            let sender_live = e.sender_timestamp.is_some_and(|t| t >= sender_cutoff);
            if !(token_live || sender_live) {
                ops.push(Op::Delete {
                    ns: Ns::TcToken,
                    key: k,
                });
            }
        }
        let n = ops.len() as u32;
        self.apply(ops).await?;
        Ok(n)
    }
    async fn touch_tc_token_sender_timestamp(
        &self,
        jid: &str,
        sender_timestamp: i64,
    ) -> Result<()> {
        let _g = self.rmw.lock().await;
        let entry = match self.get_tc_token(jid).await? {
            Some(e) => TcTokenEntry {
                sender_timestamp: Some(
                    e.sender_timestamp
                        .map_or(sender_timestamp, |s| s.max(sender_timestamp)),
                ),
                ..e
            },
            None => TcTokenEntry {
                token: Vec::new(),
                token_timestamp: sender_timestamp,
                sender_timestamp: Some(sender_timestamp),
            },
        };
        self.put_tc_token(jid, &entry).await
    }
    async fn store_received_tc_token(
        &self,
        jid: &str,
        token: &[u8],
        token_timestamp: i64,
    ) -> Result<()> {
        let _g = self.rmw.lock().await;
        let existing = self.get_tc_token(jid).await?;
        if let Some(e) = &existing
            && !e.token.is_empty()
            && token_timestamp < e.token_timestamp
        {
            return Ok(()); // newer-wins
        }
        let sender_timestamp = existing.and_then(|e| e.sender_timestamp);
        self.put_tc_token(
            jid,
            &TcTokenEntry {
                token: token.to_vec(),
                token_timestamp,
                sender_timestamp,
            },
        )
        .await
    }
}

// ------------------------------------------------------------ MsgSecretStore

#[async_trait]
impl MsgSecretStore for KvBackend {
    async fn put_msg_secrets(&self, entries: Vec<MsgSecretEntry>) -> Result<usize> {
        let _g = self.rmw.lock().await;
        let n = entries.len();
        let mut ops = Vec::with_capacity(n);
        for e in entries {
            let k = key(&[e.chat.as_bytes(), e.sender.as_bytes(), e.msg_id.as_bytes()]);
            // Merge with an existing row (later deadline wins, 0 = never; max message_ts).
            let (mut expires_at, mut message_ts) = (e.expires_at, e.message_ts);
            if let Some(old) = self.get(Ns::MsgSecret, &k).await? {
                let (_, old_exp, old_ts) = decode_secret(&old)?;
                expires_at = merge_msg_secret_expiry(old_exp, expires_at);
                message_ts = merge_msg_secret_message_ts(old_ts, message_ts);
            }
            let mut v = e.secret.to_vec();
            v.extend_from_slice(&expires_at.to_be_bytes());
            v.extend_from_slice(&message_ts.to_be_bytes());
            // ts column = expiry (0 = never → NULL, never swept).
            let ts = (expires_at != 0).then_some(expires_at);
            ops.push(Op::Put {
                ns: Ns::MsgSecret,
                key: k,
                value: v,
                ts,
            });
        }
        self.apply(ops).await?;
        Ok(n)
    }
    async fn get_msg_secret(
        &self,
        chat: &str,
        sender: &str,
        msg_id: &str,
    ) -> Result<Option<Vec<u8>>> {
        Ok(self
            .get_msg_secret_with_ts(chat, sender, msg_id)
            .await?
            .map(|(s, _)| s))
    }
    async fn get_msg_secret_with_ts(
        &self,
        chat: &str,
        sender: &str,
        msg_id: &str,
    ) -> Result<Option<(Vec<u8>, i64)>> {
        match self
            .get(
                Ns::MsgSecret,
                &key(&[chat.as_bytes(), sender.as_bytes(), msg_id.as_bytes()]),
            )
            .await?
        {
            Some(v) => {
                let (secret, _, ts) = decode_secret(&v)?;
                Ok(Some((secret, ts)))
            }
            None => Ok(None),
        }
    }
    async fn delete_expired_msg_secrets(&self, cutoff_timestamp: i64) -> Result<u32> {
        // Contract: delete `expires_at <= cutoff`; the store deletes `ts < cutoff`.
        self.delete_older_than(Ns::MsgSecret, cutoff_timestamp + 1)
            .await
    }
}

/// Value layout of a msg secret row: secret(32) ‖ expires_at(i64 BE) ‖ message_ts(i64 BE).
fn decode_secret(v: &[u8]) -> Result<(Vec<u8>, i64, i64)> {
    if v.len() != 48 {
        return Err(StoreError::Validation(format!(
            "msg secret row has {} bytes",
            v.len()
        )));
    }
    let be = |b: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        i64::from_be_bytes(a)
    };
    let (exp, ts) = (be(&v[32..40]), be(&v[40..48]));
    Ok((v[..32].to_vec(), exp, ts))
}

// --------------------------------------------------------------- DeviceStore

#[async_trait]
impl DeviceStore for KvBackend {
    async fn save(&self, device: &Device) -> Result<()> {
        self.put1(Ns::Device, vec![], to_json(device)?).await
    }
    async fn load(&self) -> Result<Option<Device>> {
        match self.get(Ns::Device, b"").await? {
            Some(v) if !v.is_empty() => Ok(Some(from_json(&v)?)),
            _ => Ok(None), // missing or the empty placeholder written by `create`
        }
    }
    async fn exists(&self) -> Result<bool> {
        Ok(self.get(Ns::Device, b"").await?.is_some())
    }
    async fn create(&self) -> Result<i32> {
        // One device per instance; the id is not meaningful to wagate.
        self.put1(Ns::Device, vec![], vec![]).await?;
        Ok(1)
    }
}
