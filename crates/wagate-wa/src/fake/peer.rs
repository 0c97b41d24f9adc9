//! A Signal-speaking fake device (a contact's phone, or the account's own
//! primary phone) living inside the fake server. It publishes a prekey bundle,
//! decrypts what the client sends it, and encrypts messages to the client; in groups it keeps
//! the members' sender keys (from their distribution messages) and its own.
//!
//! Why in-server: WhatsApp's server only relays ciphertext, so a fake server that
//! also owns the peers' Signal state is enough to test real E2E send/receive.

use async_trait::async_trait;
use std::collections::HashMap;
use whatsapp_rust::wacore::iq::prekeys::{
    OneTimePreKeyNode, PreKeyBundleUserNode, SignedPreKeyNode,
};
use whatsapp_rust::wacore::libsignal::protocol::{
    CiphertextMessage, Direction, GenericSignedPreKey, IdentityChange, IdentityKey,
    IdentityKeyPair, IdentityKeyStore, KeyPair, PreKeyBundle, PreKeyId, PreKeyRecord,
    PreKeySignalMessage, PreKeyStore, ProtocolAddress, PublicKey, SenderKeyDistributionMessage,
    SenderKeyName, SenderKeyRecord, SenderKeyStore, SessionRecord, SessionStore, SignalMessage,
    SignalProtocolError, SignedPreKeyId, SignedPreKeyRecord, SignedPreKeyStore, Timestamp,
    UsePQRatchet, create_sender_key_distribution_message, group_decrypt, group_encrypt,
    message_decrypt, message_encrypt, process_prekey_bundle,
    process_sender_key_distribution_message,
};
use whatsapp_rust::wacore::messages::MessageUtils;
use whatsapp_rust::wacore::protocol::ProtocolNode as _;
use whatsapp_rust::wacore_binary::Jid;
use whatsapp_rust::waproto::whatsapp as wa;

type SResult<T> = Result<T, SignalProtocolError>;

fn rng() -> rand::rngs::StdRng {
    rand::make_rng::<rand::rngs::StdRng>()
}

/// What a client device published (prekey upload IQ or its registration payload).
#[derive(Clone, Debug)]
pub struct PublishedBundle {
    pub registration_id: u32,
    pub identity: [u8; 32],
    pub signed_id: u32,
    pub signed_pub: [u8; 32],
    pub signed_sig: Vec<u8>,
    pub one_time: Vec<(u32, [u8; 32])>,
}

impl PublishedBundle {
    /// Hands out one one-time prekey (like the server does), or none when exhausted.
    pub fn take_bundle(&mut self, device_id: u32) -> SResult<PreKeyBundle> {
        let otk = if self.one_time.is_empty() {
            None
        } else {
            Some(self.one_time.remove(0))
        };
        PreKeyBundle::new(
            self.registration_id,
            device_id.into(),
            otk.map(|(id, k)| {
                Ok::<_, SignalProtocolError>((
                    PreKeyId::from(id),
                    PublicKey::from_djb_public_key_bytes(&k)?,
                ))
            })
            .transpose()?,
            SignedPreKeyId::from(self.signed_id),
            PublicKey::from_djb_public_key_bytes(&self.signed_pub)?,
            self.signed_sig.clone(),
            IdentityKey::new(PublicKey::from_djb_public_key_bytes(&self.identity)?),
        )
    }
}

pub struct SignalPeer {
    pub jid: Jid,
    pub identity: IdentityKeyPair,
    pub registration_id: u32,
    signed: SignedPreKeyRecord,
    signed_sig: Vec<u8>,
    next_prekey: u32,
    stores: PeerStores,
}

#[derive(Default)]
struct PeerStores {
    sessions: HashMap<String, SessionRecord>,
    identities: HashMap<String, IdentityKey>,
    prekeys: HashMap<u32, PreKeyRecord>,
    signed: HashMap<u32, SignedPreKeyRecord>,
    pair: Option<(IdentityKeyPair, u32)>,
    /// Sender keys by (group, sender): the members' and this peer's own.
    sender_keys: HashMap<String, SenderKeyRecord>,
}

impl SignalPeer {
    pub fn new(jid: Jid) -> Self {
        let mut r = rng();
        let identity = IdentityKeyPair::generate(&mut r);
        let registration_id = (rand::random::<u32>() % 16380) + 1;
        let spk = KeyPair::generate(&mut r);
        let sig = identity
            .private_key()
            .calculate_signature(&spk.public_key.serialize(), &mut r)
            .unwrap()
            .to_vec();
        let signed = SignedPreKeyRecord::new(1.into(), Timestamp::from_epoch_millis(0), &spk, &sig);
        let mut stores = PeerStores {
            pair: Some((identity.clone(), registration_id)),
            ..Default::default()
        };
        stores.signed.insert(1, signed.clone());
        Self {
            jid,
            identity,
            registration_id,
            signed,
            signed_sig: sig,
            next_prekey: 1,
            stores,
        }
    }

    /// The `<user>` node of a prekey-fetch answer; mints one fresh one-time prekey.
    pub fn bundle_node(
        &mut self,
        as_jid: Jid,
    ) -> anyhow::Result<whatsapp_rust::wacore_binary::Node> {
        let id = self.next_prekey;
        self.next_prekey += 1;
        let kp = KeyPair::generate(&mut rng());
        self.stores
            .prekeys
            .insert(id, PreKeyRecord::new(id.into(), &kp));
        let node = PreKeyBundleUserNode {
            jid: as_jid,
            registration_id: self.registration_id,
            identity_key: self.identity.public_key().public_key_bytes().to_vec(),
            signed_pre_key: SignedPreKeyNode::new(
                1,
                self.signed.public_key()?.public_key_bytes().to_vec(),
                self.signed_sig.clone(),
            ),
            one_time_pre_key: Some(OneTimePreKeyNode::new(
                id,
                kp.public_key.public_key_bytes().to_vec(),
            )),
            device_identity: None,
        };
        Ok(node.into_node())
    }

    /// Encrypts a padded `wa::Message` for `to` (a client device). Starts a session
    /// from `bundle` when there is none yet. Returns (`enc type`, ciphertext).
    pub async fn encrypt(
        &mut self,
        to: &str,
        bundle: Option<PreKeyBundle>,
        msg: &wa::Message,
    ) -> anyhow::Result<(&'static str, Vec<u8>)> {
        let addr = ProtocolAddress::new(to, 0.into());
        let st = &mut self.stores;
        if !st.sessions.contains_key(to) {
            let bundle =
                bundle.ok_or_else(|| anyhow::anyhow!("no session with {to} and no bundle"))?;
            let mut ids = IdStore(&mut st.identities, st.pair.clone().unwrap());
            process_prekey_bundle(
                &addr,
                &mut SessStore(&mut st.sessions),
                &mut ids,
                &bundle,
                &mut rng(),
                UsePQRatchet::No,
            )
            .await?;
        }
        let plain = MessageUtils::encode_and_pad(msg);
        let mut ids = IdStore(&mut st.identities, st.pair.clone().unwrap());
        let ct = message_encrypt(&plain, &addr, &mut SessStore(&mut st.sessions), &mut ids).await?;
        let ty = match &ct {
            CiphertextMessage::PreKeySignalMessage(_) => "pkmsg",
            _ => "msg",
        };
        Ok((ty, ct.serialize().to_vec()))
    }

    /// Decrypts one `<enc>` the client addressed to this peer.
    pub async fn decrypt(
        &mut self,
        from: &str,
        enc_type: &str,
        bytes: &[u8],
    ) -> anyhow::Result<wa::Message> {
        let addr = ProtocolAddress::new(from, 0.into());
        let ct = match enc_type {
            "pkmsg" => {
                CiphertextMessage::PreKeySignalMessage(PreKeySignalMessage::try_from(bytes)?)
            }
            "msg" => CiphertextMessage::SignalMessage(SignalMessage::try_from(bytes)?),
            other => anyhow::bail!("unsupported enc type {other}"),
        };
        let st = &mut self.stores;
        let mut ids = IdStore(&mut st.identities, st.pair.clone().unwrap());
        let res = message_decrypt(
            &ct,
            &addr,
            &mut SessStore(&mut st.sessions),
            &mut ids,
            &mut PkStore(&mut st.prekeys),
            &SpkStore(&st.signed),
            &mut rng(),
            UsePQRatchet::No,
        )
        .await?;
        whatsapp_rust::wacore::messages::decode_plaintext(&res.plaintext, 2)
    }
}

impl SignalPeer {
    /// Takes a member's sender key for `group` (the distribution message it sent pairwise).
    pub async fn take_sender_key(
        &mut self,
        group: &str,
        sender: &str,
        distribution: &[u8],
    ) -> anyhow::Result<()> {
        let skdm = SenderKeyDistributionMessage::try_from(distribution)?;
        let name = SenderKeyName::from_parts(group, sender);
        process_sender_key_distribution_message(
            &name,
            &skdm,
            &mut SkStore(&mut self.stores.sender_keys),
        )
        .await?;
        Ok(())
    }

    /// Decrypts a member's group message (`skmsg`), once its sender key is known.
    pub async fn decrypt_group(
        &mut self,
        group: &str,
        sender: &str,
        bytes: &[u8],
    ) -> anyhow::Result<wa::Message> {
        let name = SenderKeyName::from_parts(group, sender);
        let padded =
            group_decrypt(bytes, &mut SkStore(&mut self.stores.sender_keys), &name).await?;
        whatsapp_rust::wacore::messages::decode_plaintext(&padded, 2)
    }

    /// This peer's sender-key distribution for `group` (the same key until it is rotated), and
    /// `msg` encrypted under that key: what a phone sends to a group.
    pub async fn encrypt_group(
        &mut self,
        group: &str,
        msg: &wa::Message,
    ) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
        let name = SenderKeyName::from_parts(group, &self.jid.to_string());
        let mut store = SkStore(&mut self.stores.sender_keys);
        let skdm = create_sender_key_distribution_message(&name, &mut store, &mut rng()).await?;
        let plain = MessageUtils::encode_and_pad(msg);
        let skmsg = group_encrypt(&mut store, &name, &plain, &mut rng()).await?;
        Ok((skdm.serialized().to_vec(), skmsg.serialized().to_vec()))
    }
}

// Minimal in-memory libsignal stores over borrowed maps.
struct SessStore<'a>(&'a mut HashMap<String, SessionRecord>);
struct IdStore<'a>(&'a mut HashMap<String, IdentityKey>, (IdentityKeyPair, u32));
struct PkStore<'a>(&'a mut HashMap<u32, PreKeyRecord>);
struct SpkStore<'a>(&'a HashMap<u32, SignedPreKeyRecord>);
struct SkStore<'a>(&'a mut HashMap<String, SenderKeyRecord>);

#[async_trait]
impl SenderKeyStore for SkStore<'_> {
    async fn store_sender_key(&mut self, n: &SenderKeyName, r: SenderKeyRecord) -> SResult<()> {
        self.0.insert(n.cache_key().to_owned(), r);
        Ok(())
    }
    async fn load_sender_key(&self, n: &SenderKeyName) -> SResult<Option<SenderKeyRecord>> {
        Ok(self.0.get(n.cache_key()).cloned())
    }
}

#[async_trait]
impl SessionStore for SessStore<'_> {
    async fn load_session(&self, a: &ProtocolAddress) -> SResult<Option<SessionRecord>> {
        Ok(self.0.get(a.name()).cloned())
    }
    async fn has_session(&self, a: &ProtocolAddress) -> SResult<bool> {
        Ok(self.0.contains_key(a.name()))
    }
    async fn store_session(&mut self, a: &ProtocolAddress, r: SessionRecord) -> SResult<()> {
        self.0.insert(a.name().to_string(), r);
        Ok(())
    }
}

#[async_trait]
impl IdentityKeyStore for IdStore<'_> {
    async fn get_identity_key_pair(&self) -> SResult<IdentityKeyPair> {
        Ok(self.1.0.clone())
    }
    async fn get_local_registration_id(&self) -> SResult<u32> {
        Ok(self.1.1)
    }
    async fn save_identity(
        &mut self,
        a: &ProtocolAddress,
        k: &IdentityKey,
    ) -> SResult<IdentityChange> {
        let changed = self.0.get(a.name()).is_some_and(|o| o != k);
        self.0.insert(a.name().to_string(), *k);
        Ok(IdentityChange::from_changed(changed))
    }
    async fn is_trusted_identity(
        &self,
        _a: &ProtocolAddress,
        _k: &IdentityKey,
        _d: Direction,
    ) -> SResult<bool> {
        Ok(true)
    }
    async fn get_identity(&self, a: &ProtocolAddress) -> SResult<Option<IdentityKey>> {
        Ok(self.0.get(a.name()).copied())
    }
}

#[async_trait]
impl PreKeyStore for PkStore<'_> {
    async fn get_pre_key(&self, id: PreKeyId) -> SResult<PreKeyRecord> {
        self.0
            .get(&u32::from(id))
            .cloned()
            .ok_or(SignalProtocolError::InvalidPreKeyId)
    }
    async fn save_pre_key(&mut self, id: PreKeyId, r: &PreKeyRecord) -> SResult<()> {
        self.0.insert(id.into(), r.clone());
        Ok(())
    }
    async fn remove_pre_key(&mut self, id: PreKeyId) -> SResult<()> {
        self.0.remove(&u32::from(id));
        Ok(())
    }
}

#[async_trait]
impl SignedPreKeyStore for SpkStore<'_> {
    async fn get_signed_pre_key(&self, id: SignedPreKeyId) -> SResult<SignedPreKeyRecord> {
        self.0
            .get(&u32::from(id))
            .cloned()
            .ok_or(SignalProtocolError::InvalidSignedPreKeyId)
    }
    async fn save_signed_pre_key(
        &mut self,
        _id: SignedPreKeyId,
        _r: &SignedPreKeyRecord,
    ) -> SResult<()> {
        Ok(())
    }
}
