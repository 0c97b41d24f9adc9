//! An in-process fake WhatsApp server that the real, unmodified whatsapp-rust
//! client connects to through [`FakeTransportFactory`].
//!
//! Covers: Noise XX/IK, pairing (`pair-device` → QR, `pair-success` →
//! `pair-device-sign` → 515), login (`<success>`), the IQs a session needs
//! (prekey upload/count/fetch, usync device/contact lists, app-state sync with
//! empty collections, everything else answered with an empty result), message
//! acks/nacks, receipts, and Signal peers that receive and send E2E messages;
//! contacts' profiles and the blocklist (`profiles.rs`), and the phone's history
//! sync (`sync_history`); groups (`groups.rs`), their notifications, and members that send and
//! decrypt group messages with sender keys.
//! Tests observe what the client did through [`Observed`] records.

use super::groups::{FakeGroup, Groups};
use super::peer::{PublishedBundle, SignalPeer};
use super::profiles::{FakeProfile, Profiles};
use super::wire::{FrameReader, PipeTransport, ServerIdentity, accept, frame};
use async_trait::async_trait;
use hmac::{KeyInit, Mac};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, Notify, mpsc};
use whatsapp_rust::async_channel;
use whatsapp_rust::buffa::Message as _;
use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::transport::{DisconnectReason, Transport, TransportEvent, TransportFactory};
use whatsapp_rust::wacore_binary::builder::NodeBuilder;
use whatsapp_rust::wacore_binary::marshal::{marshal, unmarshal_ref};
use whatsapp_rust::wacore_binary::util::unpack;
use whatsapp_rust::wacore_binary::{Jid, Node, NodeContent};
use whatsapp_rust::waproto::whatsapp as wa;

/// Something the client did, as seen by the server. Tests wait on these.
#[derive(Debug, Clone)]
pub enum Observed {
    /// Handshake done. `login` = device JID for a login, None for a registration.
    Handshake {
        conn: u64,
        pattern: &'static str,
        login: Option<String>,
        version: (u32, u32, u32),
    },
    /// `pair-device` pushed; refs the QR codes will carry.
    PairingStarted {
        conn: u64,
    },
    /// The client answered `pair-success` with `pair-device-sign`.
    PairSigned {
        conn: u64,
        device: String,
    },
    /// `<success>` sent for a login.
    LoggedIn {
        conn: u64,
        device: String,
    },
    /// A peer decrypted a message the client sent (one per recipient device).
    /// `text` = conversation or extended text, or an image caption; `message` = the full decrypted body.
    PeerReceived {
        from: String,
        to: String,
        id: String,
        text: Option<String>,
        message: Box<wa::Message>,
        /// The group it was written in (then `to` is the member who decrypted it).
        group: Option<String>,
    },
    /// The server acked (or nacked) a client message.
    ServerAcked {
        id: String,
        error: Option<String>,
    },
    /// The client acked a stanza we delivered (message/receipt/notification).
    ClientAck {
        id: String,
        class: String,
    },
    /// The client sent a receipt (delivery/read) for a message we delivered.
    ClientReceipt {
        id: String,
        r#type: String,
    },
    /// The client uploaded prekeys.
    PreKeysUploaded {
        device: String,
        count: usize,
    },
    ChatState {
        to: String,
        state: String,
    },
    /// The client set its own presence (`available`, `unavailable`).
    Presence {
        r#type: String,
    },
    /// The client asked for a contact's profile picture (`w:profile:picture`).
    PictureAsked {
        target: String,
    },
    /// The client asked for the blocklist.
    BlocklistAsked,
    /// The client blocked or unblocked `jid` (`action`: `block`, `unblock`).
    BlocklistChanged {
        action: String,
        jid: String,
    },
    /// The client set its own picture (`bytes`: the image it uploaded).
    PictureSet {
        bytes: Vec<u8>,
    },
    /// The client set its about text.
    AboutSet {
        text: String,
    },
    /// The client announced its push name (a `presence` with `name`).
    PushName {
        name: String,
    },
    /// The client asked for a pairing code (`link_code_companion_reg` stage companion_hello).
    PairCodeRequested {
        phone: String,
    },
    /// The client sent a call signal (`reject`, …) for `call_id`.
    CallSignal {
        action: String,
        call_id: String,
        to: String,
    },
    Closed {
        conn: u64,
    },
}

#[derive(Debug, Clone, Default)]
pub struct FakeOptions {
    /// Nack every client message with this error code (e.g. "479").
    pub nack_messages: Option<String>,
    /// Refuse logins whose announced app version differs (like a 405 "client outdated").
    pub require_version: Option<(u32, u32, u32)>,
    /// Primary phone shares an app-state key after linking (default true).
    pub share_app_state_key: bool,
    /// Contacts answer every message they decrypt with a delivery and then a read receipt, as a
    /// real phone does (default: off, tests send receipts themselves).
    pub contact_receipts: Option<ContactReceipts>,
}

/// When contacts send their receipts, relative to the server's ack of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactReceipts {
    /// The ack first, then the receipts (the usual order on a real network).
    AfterAck,
    /// The receipts first: the recipient's phone was faster than the server's ack.
    BeforeAck,
}

impl FakeOptions {
    fn defaults() -> Self {
        Self {
            share_app_state_key: true,
            ..Default::default()
        }
    }
}

#[derive(Clone, Copy)]
enum Sender<'a> {
    Contact(&'a str),
    Primary,
}

enum Out {
    Node(Node),
    Close,
}

struct Conn {
    out: mpsc::UnboundedSender<Out>,
    pairing_ref: Option<String>,
    device: Option<Jid>,
}

struct Account {
    lid_user: String,
    /// The account's primary phone (device 0): signs pairings, is a Signal peer.
    primary: SignalPeer,
    next_device: u16,
    /// Companion devices: published Signal bundle (from upload/registration).
    companions: HashMap<u16, Option<PublishedBundle>>,
}

#[derive(Default)]
struct State {
    conns: HashMap<u64, Conn>,
    accounts: HashMap<String, Account>,
    contacts: HashMap<String, SignalPeer>,
    /// Registration bundles seen at handshake, by conn (become the device's
    /// bundle once paired).
    reg_bundles: HashMap<u64, PublishedBundle>,
    /// Offline queue: stanzas delivered to a device and not yet receipted by it,
    /// redelivered on its next login (what makes the durability hook testable).
    unreceipted: HashMap<String, Vec<(String, Node)>>,
    /// Devices that already got the app-state key share.
    key_shared: std::collections::HashSet<String>,
    /// Contacts that write as a LID (`…@lid`), with the number they give alongside, if any.
    lid_contacts: HashMap<String, Option<String>>,
    groups: Groups,
}

impl State {
    /// An account by phone user or by LID user (the client addresses its own
    /// primary by LID once it knows the mapping).
    fn account_mut(&mut self, user: &str) -> Option<&mut Account> {
        if self.accounts.contains_key(user) {
            return self.accounts.get_mut(user);
        }
        self.accounts.values_mut().find(|a| a.lid_user == user)
    }
    fn is_known(&self, user: &str) -> bool {
        self.contacts.contains_key(user)
            || self.accounts.contains_key(user)
            || self.accounts.values().any(|a| a.lid_user == user)
    }
}

pub struct FakeServer {
    id: ServerIdentity,
    state: Mutex<State>,
    observed: std::sync::Mutex<Vec<Observed>>,
    notify: Notify,
    next_conn: AtomicU64,
    next_id: AtomicU64,
    pub opts: std::sync::Mutex<FakeOptions>,
    /// The media CDN; give clients `FakeCdnClient(server.cdn.clone())` as HttpClient.
    pub cdn: Arc<super::media::FakeCdn>,
    profiles: std::sync::Mutex<Profiles>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn attr(n: &Node, k: &str) -> Option<String> {
    n.attrs().optional_string(k).map(|c| c.into_owned())
}

fn bytes_of(n: &Node) -> Option<&[u8]> {
    match &n.content {
        Some(NodeContent::Bytes(b)) => Some(b),
        _ => None,
    }
}

fn children(n: &Node) -> &[Node] {
    n.children().unwrap_or_default()
}

fn iq_result(id: &str) -> NodeBuilder {
    NodeBuilder::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("type", "result")
        .attr("id", id.to_string())
}

fn be_u32(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |acc, x| (acc << 8) | *x as u32)
}

impl FakeServer {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            id: ServerIdentity::generate(),
            state: Mutex::new(State::default()),
            observed: std::sync::Mutex::new(Vec::new()),
            notify: Notify::new(),
            next_conn: AtomicU64::new(1),
            next_id: AtomicU64::new(1),
            opts: std::sync::Mutex::new(FakeOptions::defaults()),
            cdn: super::media::FakeCdn::new(),
            profiles: std::sync::Mutex::new(Profiles::default()),
        })
    }

    /// What `phone` shows others as its profile.
    pub fn set_profile(&self, phone: &str, profile: FakeProfile) {
        self.profiles.lock().unwrap().set(phone, profile);
    }

    /// The numbers `account` has blocked (all of them).
    pub fn set_blocked(&self, account: &str, blocked: &[&str]) {
        self.profiles.lock().unwrap().set_blocked(account, blocked);
    }

    /// What the account's phone does after linking: sends its history to each connected
    /// companion, zlib-compressed inline in a history-sync notification.
    pub async fn sync_history(&self, account: &str, sync: &wa::HistorySync) -> anyhow::Result<()> {
        use std::io::Write;
        use wa::message::{HistorySyncNotification, HistorySyncType, ProtocolMessage};
        use whatsapp_rust::buffa::MessageField;
        let raw = sync.encode_to_vec();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&raw)?;
        let payload = z.finish()?;
        let msg = wa::Message {
            protocol_message: MessageField::some(ProtocolMessage {
                r#type: Some(wa::message::protocol_message::Type::HistorySyncNotification),
                history_sync_notification: MessageField::some(HistorySyncNotification {
                    sync_type: Some(HistorySyncType::InitialBootstrap),
                    file_length: Some(raw.len() as u64),
                    chunk_order: Some(1),
                    progress: Some(100),
                    initial_hist_bootstrap_inline_payload: Some(payload),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let targets = self.conns_of(account).await;
        anyhow::ensure!(
            !targets.is_empty(),
            "account {account} has no connected device"
        );
        for (conn, dev) in targets {
            let id = format!("3EB0{:016X}", self.next_id.fetch_add(1, Ordering::Relaxed));
            self.deliver(conn, &dev, Sender::Primary, &msg, "protocol", &id, None)
                .await?;
        }
        Ok(())
    }

    pub fn transport_factory(self: &Arc<Self>) -> FakeTransportFactory {
        FakeTransportFactory {
            server: self.clone(),
        }
    }

    fn observe(&self, o: Observed) {
        tracing::debug!("fake-server observed {o:?}");
        self.observed.lock().unwrap().push(o);
        self.notify.notify_waiters();
    }

    /// Everything observed so far.
    pub fn observed(&self) -> Vec<Observed> {
        self.observed.lock().unwrap().clone()
    }

    /// Waits until an observation matching `pred` exists (including past ones).
    pub async fn wait_for<F: Fn(&Observed) -> bool>(
        &self,
        timeout: Duration,
        pred: F,
    ) -> Option<Observed> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if let Some(o) = self
                .observed
                .lock()
                .unwrap()
                .iter()
                .find(|o| pred(o))
                .cloned()
            {
                return Some(o);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    fn fresh_id(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Registers a contact (another WhatsApp user with one phone) that the
    /// client can message and that can message the client.
    pub async fn add_contact(&self, phone: &str) {
        let jid: Jid = format!("{phone}@s.whatsapp.net").parse().unwrap();
        self.state
            .lock()
            .await
            .contacts
            .insert(phone.to_string(), SignalPeer::new(jid));
    }

    /// A contact known by the LID user `lid`: it writes from `lid@lid`, with `sender_pn` when
    /// `phone` is given (as WhatsApp does once the number may be shared).
    pub async fn add_lid_contact(&self, lid: &str, phone: Option<&str>) {
        let jid: Jid = format!("{lid}@lid").parse().unwrap();
        let mut st = self.state.lock().await;
        st.contacts.insert(lid.to_string(), SignalPeer::new(jid));
        st.lid_contacts
            .insert(lid.to_string(), phone.map(str::to_owned));
    }

    async fn push(&self, conn: u64, node: Node) -> bool {
        let st = self.state.lock().await;
        st.conns
            .get(&conn)
            .is_some_and(|c| c.out.send(Out::Node(node)).is_ok())
    }

    /// Connections currently logged in as a device of `phone`.
    async fn conns_of(&self, phone: &str) -> Vec<(u64, Jid)> {
        let st = self.state.lock().await;
        st.conns
            .iter()
            .filter_map(|(id, c)| {
                c.device
                    .as_ref()
                    .filter(|d| d.user == phone)
                    .map(|d| (*id, d.clone()))
            })
            .collect()
    }

    // ------------------------------------------------------------ test API

    /// The fake phone of account `phone` scans `qr` (the string from
    /// `Event::PairingQrCode`) and the server sends `pair-success`.
    pub async fn scan_qr(&self, qr: &str, phone: &str) -> anyhow::Result<()> {
        use base64::Engine as _;
        let parts: Vec<&str> = qr.split(',').collect();
        anyhow::ensure!(parts.len() >= 4, "bad QR {qr}");
        let b64 = base64::engine::general_purpose::STANDARD;
        let identity_pub = b64.decode(parts[2])?;
        let adv_secret = b64.decode(parts[3])?;
        let mut st = self.state.lock().await;
        let conn_id = st
            .conns
            .iter()
            .find(|(_, c)| c.pairing_ref.as_deref() == Some(parts[0]))
            .map(|(id, _)| *id)
            .ok_or_else(|| anyhow::anyhow!("no connection is showing ref {}", parts[0]))?;
        let reg = st.reg_bundles.get(&conn_id).cloned();
        let n_accounts = st.accounts.len();
        let account = st
            .accounts
            .entry(phone.to_string())
            .or_insert_with(|| Account {
                lid_user: format!("{}", 100_000_000_000_000u64 + n_accounts as u64 + 1),
                primary: SignalPeer::new(format!("{phone}@s.whatsapp.net").parse().unwrap()),
                next_device: 1,
                companions: HashMap::new(),
            });
        let device = account.next_device;
        account.next_device += 1;
        account.companions.insert(device, reg);
        // ADV: the primary signs (prefix 6,0 ‖ details ‖ companion identity), then HMACs with the QR's adv secret.
        let details = wa::ADVDeviceIdentity {
            raw_id: Some(1),
            timestamp: Some(now() as u64),
            key_index: Some(device as u32),
            ..Default::default()
        }
        .encode_to_vec();
        let acct_priv = account.primary.identity.private_key();
        let acct_pub = account
            .primary
            .identity
            .public_key()
            .public_key_bytes()
            .to_vec();
        let msg = [&[6u8, 0][..], &details, &identity_pub].concat();
        let sig = acct_priv
            .calculate_signature(&msg, &mut rand::make_rng::<rand::rngs::StdRng>())?
            .to_vec();
        let signed = wa::ADVSignedDeviceIdentity {
            details: Some(details),
            account_signature_key: Some(acct_pub),
            account_signature: Some(sig),
            ..Default::default()
        }
        .encode_to_vec();
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&adv_secret)?;
        mac.update(&signed);
        let hmac = mac.finalize().into_bytes().to_vec();
        let container = wa::ADVSignedDeviceIdentityHMAC {
            details: Some(signed),
            hmac: Some(hmac),
            ..Default::default()
        }
        .encode_to_vec();
        let lid_user = account.lid_user.clone();
        let node = NodeBuilder::new("iq")
            .attr("from", "s.whatsapp.net")
            .attr("type", "set")
            .attr("id", self.fresh_id("pair-success"))
            .attr("xmlns", "md")
            .children([NodeBuilder::new("pair-success")
                .children([
                    NodeBuilder::new("device-identity").bytes(container).build(),
                    NodeBuilder::new("device")
                        .attr("jid", format!("{phone}:{device}@s.whatsapp.net"))
                        .attr("lid", format!("{lid_user}:{device}@lid"))
                        .build(),
                    NodeBuilder::new("biz").attr("name", "Fake Phone").build(),
                    NodeBuilder::new("platform").attr("name", "android").build(),
                ])
                .build()])
            .build();
        let c = st.conns.get(&conn_id).unwrap();
        c.out
            .send(Out::Node(node))
            .map_err(|_| anyhow::anyhow!("conn gone"))?;
        Ok(())
    }

    /// Contact `from` sends `text` to every connected device of account `to`.
    /// Returns the stanza id.
    pub async fn send_text_from(&self, from: &str, to: &str, text: &str) -> anyhow::Result<String> {
        let msg = wa::Message {
            conversation: Some(text.to_string()),
            ..Default::default()
        };
        self.send_message_from(from, to, &msg, "text").await
    }

    pub async fn send_message_from(
        &self,
        from: &str,
        to: &str,
        msg: &wa::Message,
        ty: &str,
    ) -> anyhow::Result<String> {
        let targets = self.conns_of(to).await;
        anyhow::ensure!(!targets.is_empty(), "account {to} has no connected device");
        let id = format!("3EB0{:016X}", self.next_id.fetch_add(1, Ordering::Relaxed));
        for (conn, dev) in targets {
            self.deliver(conn, &dev, Sender::Contact(from), msg, ty, &id, None)
                .await?;
        }
        Ok(id)
    }

    /// Encrypts `msg` from `sender` to companion `dev` and pushes it on `conn`;
    /// queued until the device sends a receipt (redelivered on next login).
    /// In a group (`in_group`: its JID and the group message under the sender's key), `msg` is
    /// the sender-key distribution that goes pairwise beside it.
    #[allow(clippy::too_many_arguments)]
    async fn deliver(
        &self,
        conn: u64,
        dev: &Jid,
        sender: Sender<'_>,
        msg: &wa::Message,
        ty: &str,
        id: &str,
        in_group: Option<(&str, &[u8])>,
    ) -> anyhow::Result<()> {
        let mut st = self.state.lock().await;
        let st = &mut *st;
        let bundle = st
            .accounts
            .get_mut(dev.user.as_str())
            .and_then(|a| a.companions.get_mut(&dev.device))
            .and_then(|b| b.as_mut())
            .map(|b| b.take_bundle(dev.device as u32))
            .transpose()?;
        let (from, notify, peer) = match sender {
            Sender::Contact(c) => (
                c.to_string(),
                format!("Contact {c}"),
                st.contacts.get_mut(c),
            ),
            Sender::Primary => (
                dev.user.to_string(),
                "Fake Phone".to_string(),
                st.accounts
                    .get_mut(dev.user.as_str())
                    .map(|a| &mut a.primary),
            ),
        };
        let peer = peer.ok_or_else(|| anyhow::anyhow!("unknown sender {from}"))?;
        let (enc_type, ct) = peer.encrypt(&dev.to_string(), bundle, msg).await?;
        let (address, sender_pn) = match st.lid_contacts.get(&from) {
            Some(pn) => (format!("{from}@lid"), pn.clone()),
            None => (format!("{from}@s.whatsapp.net"), None),
        };
        let mut b = NodeBuilder::new("message")
            .attr("id", id.to_string())
            .attr("t", now().to_string())
            .attr("type", ty.to_string())
            .attr("notify", notify);
        b = match in_group {
            Some((group, _)) => b
                .attr("from", group.to_owned())
                .attr("participant", address),
            None => b.attr("from", address),
        };
        if matches!(sender, Sender::Primary) {
            b = b.attr("category", "peer");
        }
        if let Some(pn) = sender_pn {
            b = b.attr("sender_pn", format!("{pn}@s.whatsapp.net"));
        }
        let mut encs = vec![
            NodeBuilder::new("enc")
                .attr("v", "2")
                .attr("type", enc_type)
                .bytes(ct)
                .build(),
        ];
        if let Some((_, skmsg)) = in_group {
            encs.push(
                NodeBuilder::new("enc")
                    .attr("v", "2")
                    .attr("type", "skmsg")
                    .bytes(skmsg.to_vec())
                    .build(),
            );
        }
        let node = b.children(encs).build();
        st.unreceipted
            .entry(dev.to_string())
            .or_default()
            .push((id.to_string(), node.clone()));
        if let Some(c) = st.conns.get(&conn) {
            let _ = c.out.send(Out::Node(node));
        }
        Ok(())
    }

    /// What a real primary phone does right after linking: share an app-state
    /// sync key with the new companion. Without it the client waits 10 s
    /// (KEY_SHARE_GRACE_SECS) before its first app-state sync and `Connected`.
    async fn share_app_state_key(&self, conn: u64, dev: &Jid) -> anyhow::Result<()> {
        use wa::message::{
            AppStateSyncKey, AppStateSyncKeyData, AppStateSyncKeyFingerprint, AppStateSyncKeyId,
            AppStateSyncKeyShare, ProtocolMessage,
        };
        use whatsapp_rust::buffa::MessageField;
        let key = AppStateSyncKey {
            key_id: MessageField::some(AppStateSyncKeyId {
                key_id: Some(vec![0, 0, 0, 1, 0, 0]),
                ..Default::default()
            }),
            key_data: MessageField::some(AppStateSyncKeyData {
                key_data: Some(rand::random::<[u8; 32]>().to_vec()),
                fingerprint: MessageField::some(AppStateSyncKeyFingerprint {
                    raw_id: Some(1),
                    current_index: Some(0),
                    device_indexes: vec![0, dev.device as u32],
                    ..Default::default()
                }),
                timestamp: Some(now() * 1000),
                ..Default::default()
            }),
            ..Default::default()
        };
        let msg = wa::Message {
            protocol_message: MessageField::some(ProtocolMessage {
                r#type: Some(wa::message::protocol_message::Type::AppStateSyncKeyShare),
                app_state_sync_key_share: MessageField::some(AppStateSyncKeyShare {
                    keys: vec![key],
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = format!("3EB0{:016X}", self.next_id.fetch_add(1, Ordering::Relaxed));
        self.deliver(conn, dev, Sender::Primary, &msg, "protocol", &id, None)
            .await
    }

    /// Contact `from` sends a delivery (`None`) or `read` receipt for `ids` to account `to`.
    pub async fn receipt_from(&self, from: &str, to: &str, ids: &[&str], r#type: Option<&str>) {
        for (conn, _) in self.conns_of(to).await {
            let mut b = NodeBuilder::new("receipt")
                .attr("from", format!("{from}@s.whatsapp.net"))
                .attr("id", ids[0].to_string())
                .attr("t", now().to_string());
            if let Some(t) = r#type {
                b = b.attr("type", t.to_string());
            }
            if ids.len() > 1 {
                b = b.children([NodeBuilder::new("list")
                    .children(
                        ids[1..]
                            .iter()
                            .map(|i| NodeBuilder::new("item").attr("id", i.to_string()).build()),
                    )
                    .build()]);
            }
            self.push(conn, b.build()).await;
        }
    }

    /// Contact `from` shows account `to` it is online, or offline (last seen `last`, in seconds).
    pub async fn presence_from(&self, from: &str, to: &str, last: Option<i64>) {
        for (conn, _) in self.conns_of(to).await {
            let mut b = NodeBuilder::new("presence").attr("from", format!("{from}@s.whatsapp.net"));
            if let Some(t) = last {
                b = b.attr("type", "unavailable").attr("last", t.to_string());
            }
            self.push(conn, b.build()).await;
        }
    }

    /// Contact `from` types (`composing`, with `media="audio"` when recording) or stops
    /// (`paused`) in its chat with account `to`.
    pub async fn chatstate_from(&self, from: &str, to: &str, state: &'static str, audio: bool) {
        for (conn, _) in self.conns_of(to).await {
            let mut shown = NodeBuilder::new(state);
            if audio {
                shown = shown.attr("media", "audio");
            }
            let n = NodeBuilder::new("chatstate")
                .attr("from", format!("{from}@s.whatsapp.net"))
                .children([shown.build()])
                .build();
            self.push(conn, n).await;
        }
    }

    /// Contact `from` calls account `to` (an offer to each of its devices); returns the call id.
    pub async fn call_from(&self, from: &str, to: &str, is_video: bool) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let call_id = format!("CALL{n:016X}");
        let caller = format!("{from}@s.whatsapp.net");
        for (conn, _) in self.conns_of(to).await {
            let mut media = vec![
                NodeBuilder::new("audio")
                    .attr("enc", "opus")
                    .attr("rate", "16000")
                    .build(),
            ];
            if is_video {
                media.push(NodeBuilder::new("video").attr("enc", "vp8").build());
            }
            let offer = NodeBuilder::new("offer")
                .attr("call-id", call_id.clone())
                .attr("call-creator", caller.clone())
                .children(media)
                .build();
            let stanza = NodeBuilder::new("call")
                .attr("from", caller.clone())
                .attr("id", format!("{n:X}"))
                .attr("t", now().to_string())
                .children([offer])
                .build();
            self.push(conn, stanza).await;
        }
        call_id
    }

    /// Drops every connection of `phone` without a word (network loss).
    pub async fn drop_connections(&self, phone: &str) {
        for (conn, _) in self.conns_of(phone).await {
            if let Some(c) = self.state.lock().await.conns.get(&conn) {
                let _ = c.out.send(Out::Close);
            }
        }
    }

    /// The phone unlinks every companion of `phone`: conflict stream error, close,
    /// and later logins are refused with 401.
    pub async fn logout_companions(&self, phone: &str) {
        for (conn, _) in self.conns_of(phone).await {
            let n = NodeBuilder::new("stream:error")
                .children([NodeBuilder::new("conflict")
                    .attr("type", "device_removed")
                    .build()])
                .build();
            if let Some(c) = self.state.lock().await.conns.get(&conn) {
                let _ = c.out.send(Out::Node(n));
                let _ = c.out.send(Out::Close);
            }
        }
        if let Some(a) = self.state.lock().await.accounts.get_mut(phone) {
            a.companions.clear();
        }
    }

    // ------------------------------------------------------------ groups

    /// The group as the network holds it now.
    pub async fn group(&self, jid: &str) -> Option<FakeGroup> {
        self.state.lock().await.groups.get(jid).cloned()
    }

    /// Contact `creator` makes a group with `members` (contacts or accounts); the accounts'
    /// devices are told (`<create>`). Returns the group's JID.
    pub async fn contact_creates_group(
        &self,
        creator: &str,
        subject: &str,
        members: &[&str],
    ) -> String {
        let notice = {
            let mut st = self.state.lock().await;
            let st = &mut *st;
            let (contacts, accounts) = (&st.contacts, &st.accounts);
            let known = |p: &str| contacts.contains_key(p) || accounts.contains_key(p);
            let asked: Vec<String> = members.iter().map(|m| (*m).to_owned()).collect();
            let g = st
                .groups
                .create(creator, subject, None, &asked, known, now());
            let created = NodeBuilder::new("create").children([g.node()]).build();
            (g.jid.clone(), created, vec![])
        };
        let jid = notice.0.clone();
        self.notify_group(None, creator, notice).await;
        jid
    }

    /// Contact `by` (an admin) adds, removes, promotes or demotes `phones` in `jid`.
    pub async fn contact_changes_group(
        &self,
        by: &str,
        jid: &str,
        action: &'static str,
        phones: &[&str],
    ) -> anyhow::Result<()> {
        let notice = {
            let mut st = self.state.lock().await;
            let st = &mut *st;
            let (contacts, accounts) = (&st.contacts, &st.accounts);
            let known = |p: &str| contacts.contains_key(p) || accounts.contains_key(p);
            let phones: Vec<String> = phones.iter().map(|p| (*p).to_owned()).collect();
            st.groups.contact_changes(by, jid, action, &phones, known)
        };
        let notice = notice.ok_or_else(|| anyhow::anyhow!("{by} cannot {action} in {jid}"))?;
        self.notify_group(None, by, notice).await;
        Ok(())
    }

    /// Contact `by` renames `jid`.
    pub async fn contact_renames_group(
        &self,
        by: &str,
        jid: &str,
        subject: &str,
    ) -> anyhow::Result<()> {
        let notice = self
            .state
            .lock()
            .await
            .groups
            .contact_renames(by, jid, subject, now())
            .ok_or_else(|| anyhow::anyhow!("{by} is not in {jid}"))?;
        self.notify_group(None, by, notice).await;
        Ok(())
    }

    /// Contact `from` writes `text` in group `jid` (see `send_group_message_from`).
    pub async fn send_group_text_from(
        &self,
        from: &str,
        jid: &str,
        text: &str,
    ) -> anyhow::Result<String> {
        let msg = wa::Message {
            conversation: Some(text.to_string()),
            ..Default::default()
        };
        self.send_group_message_from(from, jid, &msg).await
    }

    /// Contact `from` writes `msg` in group `jid`: to each connected device of its member
    /// accounts, its sender key (pairwise) and the message under that key. Returns the id.
    pub async fn send_group_message_from(
        &self,
        from: &str,
        jid: &str,
        msg: &wa::Message,
    ) -> anyhow::Result<String> {
        let (members, skdm, skmsg) = {
            let mut st = self.state.lock().await;
            let st = &mut *st;
            let g = st
                .groups
                .get(jid)
                .filter(|g| g.role_of(from).is_some())
                .ok_or_else(|| anyhow::anyhow!("{from} is not in {jid}"))?;
            let members: Vec<String> = g.members.iter().map(|(p, _)| p.clone()).collect();
            let peer = st
                .contacts
                .get_mut(from)
                .ok_or_else(|| anyhow::anyhow!("unknown contact {from}"))?;
            let (skdm, skmsg) = peer.encrypt_group(jid, msg).await?;
            (members, skdm, skmsg)
        };
        let distribution = wa::Message {
            sender_key_distribution_message: whatsapp_rust::buffa::MessageField::some(
                wa::message::SenderKeyDistributionMessage {
                    group_id: Some(jid.to_owned()),
                    axolotl_sender_key_distribution_message: Some(skdm),
                    ..Default::default()
                },
            ),
            ..Default::default()
        };
        let id = format!("3EB0{:016X}", self.next_id.fetch_add(1, Ordering::Relaxed));
        for member in members {
            for (conn, dev) in self.conns_of(&member).await {
                self.deliver(
                    conn,
                    &dev,
                    Sender::Contact(from),
                    &distribution,
                    "text",
                    &id,
                    Some((jid, &skmsg)),
                )
                .await?;
            }
        }
        Ok(id)
    }

    /// A `w:g2` IQ: answered, and the change (if any) told to the other members.
    async fn on_group_iq(&self, conn: u64, id: &str, n: &Node) -> anyhow::Result<()> {
        let to = attr(n, "to").unwrap_or_default();
        let (outcome, actor) = {
            let mut st = self.state.lock().await;
            let st = &mut *st;
            let actor = st
                .conns
                .get(&conn)
                .and_then(|c| c.device.as_ref().map(|d| d.user.to_string()))
                .unwrap_or_default();
            let (contacts, accounts) = (&st.contacts, &st.accounts);
            let known = |p: &str| contacts.contains_key(p) || accounts.contains_key(p);
            (st.groups.on_iq(&actor, &to, n, known, now()), actor)
        };
        match outcome {
            Ok(done) => {
                self.push(conn, iq_result(id).children(done.answer).build())
                    .await;
                if let Some(notice) = done.notice {
                    self.notify_group(Some(conn), &actor, notice).await;
                }
            }
            Err(refusal) => {
                let error = NodeBuilder::new("iq")
                    .attr("from", "s.whatsapp.net")
                    .attr("type", "error")
                    .attr("id", id.to_string())
                    .children([refusal.node()])
                    .build();
                self.push(conn, error).await;
            }
        }
        Ok(())
    }

    /// A `w:gp2` notification of `action` by `by` to every connected device of the group's
    /// member accounts (and of `also`: those just removed), but the one that did it.
    async fn notify_group(
        &self,
        except: Option<u64>,
        by: &str,
        (jid, action, also): (String, Node, Vec<String>),
    ) {
        let mut members: Vec<String> = self
            .state
            .lock()
            .await
            .groups
            .get(&jid)
            .map(|g| g.members.iter().map(|(p, _)| p.clone()).collect())
            .unwrap_or_default();
        members.extend(also);
        for member in members {
            for (conn, _) in self.conns_of(&member).await {
                if Some(conn) == except {
                    continue;
                }
                let n = NodeBuilder::new("notification")
                    .attr("from", jid.clone())
                    .attr("type", "w:gp2")
                    .attr("id", self.fresh_id("gp2"))
                    .attr("participant", format!("{by}@s.whatsapp.net"))
                    .attr("t", now().to_string())
                    .children([action.clone()])
                    .build();
                self.push(conn, n).await;
            }
        }
    }

    // ------------------------------------------------------- connection loop

    async fn run_conn(
        self: Arc<Self>,
        conn: u64,
        c2s: async_channel::Receiver<Bytes>,
        ev: async_channel::Sender<TransportEvent>,
    ) {
        let mut reader = FrameReader::new(c2s);
        let hs = match accept(&self.id, &mut reader, &ev).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!("fake-server conn {conn}: handshake failed: {e}");
                return;
            }
        };
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Out>();
        self.state.lock().await.conns.insert(
            conn,
            Conn {
                out: out_tx,
                pairing_ref: None,
                device: None,
            },
        );

        // Writer: owns the server→client cipher and its counter.
        let write = hs.write;
        let wev = ev.clone();
        let writer = tokio::spawn(async move {
            let mut ctr = 0u32;
            while let Some(o) = out_rx.recv().await {
                match o {
                    Out::Node(n) => {
                        let ct = write
                            .encrypt_with_counter(ctr, &marshal(&n).expect("marshal"))
                            .expect("encrypt");
                        ctr += 1;
                        if wev.send(frame(&ct)).await.is_err() {
                            break;
                        }
                    }
                    Out::Close => {
                        let _ = wev
                            .send(TransportEvent::Disconnected(DisconnectReason::StreamEnded))
                            .await;
                        wev.close();
                        break;
                    }
                }
            }
        });

        self.on_handshake(conn, &hs.client_payload, hs.pattern)
            .await;

        // Reader: client→server stanzas.
        let mut ctr = 0u32;
        while let Some(mut f) = reader.next().await {
            if hs.read.decrypt_in_place_with_counter(ctr, &mut f).is_err() {
                tracing::warn!("fake-server conn {conn}: decrypt failed");
                break;
            }
            ctr += 1;
            let node = match unpack(&f)
                .map_err(anyhow::Error::from)
                .and_then(|p| Ok(unmarshal_ref(&p)?.to_owned()))
            {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!("fake-server conn {conn}: bad stanza: {e}");
                    continue;
                }
            };
            if let Err(e) = self.on_stanza(conn, node).await {
                tracing::warn!("fake-server conn {conn}: {e:#}");
            }
        }
        self.state.lock().await.conns.remove(&conn);
        writer.abort();
        self.observe(Observed::Closed { conn });
    }

    async fn on_handshake(&self, conn: u64, p: &wa::ClientPayload, pattern: &'static str) {
        let v = p.user_agent.app_version.as_option();
        let version = (
            v.and_then(|v| v.primary).unwrap_or(0),
            v.and_then(|v| v.secondary).unwrap_or(0),
            v.and_then(|v| v.tertiary).unwrap_or(0),
        );
        let login = p
            .username
            .map(|u| format!("{u}:{}@s.whatsapp.net", p.device.unwrap_or(0)));
        self.observe(Observed::Handshake {
            conn,
            pattern,
            login: login.clone(),
            version,
        });
        let required = self.opts.lock().unwrap().require_version;
        if let Some(req) = required
            && req != version
        {
            self.push(
                conn,
                NodeBuilder::new("failure").attr("reason", "405").build(),
            )
            .await;
            return;
        }
        match login {
            None => self.start_pairing(conn, p).await,
            Some(dev) => self.login(conn, dev.parse().unwrap()).await,
        }
    }

    async fn start_pairing(&self, conn: u64, p: &wa::ClientPayload) {
        // Remember the registration keys: they are the device's bundle until it uploads prekeys.
        if let Some(r) = p.device_pairing_data.as_option() {
            let b = PublishedBundle {
                registration_id: be_u32(r.e_regid.as_deref().unwrap_or_default()),
                identity: r
                    .e_ident
                    .as_deref()
                    .unwrap_or_default()
                    .try_into()
                    .unwrap_or([0; 32]),
                signed_id: be_u32(r.e_skey_id.as_deref().unwrap_or_default()),
                signed_pub: r
                    .e_skey_val
                    .as_deref()
                    .unwrap_or_default()
                    .try_into()
                    .unwrap_or([0; 32]),
                signed_sig: r.e_skey_sig.clone().unwrap_or_default(),
                one_time: vec![],
            };
            self.state.lock().await.reg_bundles.insert(conn, b);
        }
        let r = format!("2@{}", self.fresh_id("REF"));
        let refs = [r.clone(), format!("{r}-b"), format!("{r}-c")];
        if let Some(c) = self.state.lock().await.conns.get_mut(&conn) {
            c.pairing_ref = Some(r);
        }
        let node = NodeBuilder::new("iq")
            .attr("from", "s.whatsapp.net")
            .attr("type", "set")
            .attr("id", self.fresh_id("pair-device"))
            .attr("xmlns", "md")
            .children([NodeBuilder::new("pair-device")
                .children(
                    refs.iter()
                        .map(|r| NodeBuilder::new("ref").bytes(r.as_bytes().to_vec()).build()),
                )
                .build()])
            .build();
        self.push(conn, node).await;
        self.observe(Observed::PairingStarted { conn });
    }

    async fn login(&self, conn: u64, dev: Jid) {
        let lid_user = {
            let mut st = self.state.lock().await;
            let known = st.accounts.get(dev.user.as_str()).and_then(|a| {
                a.companions
                    .contains_key(&dev.device)
                    .then(|| a.lid_user.clone())
            });
            if known.is_some()
                && let Some(c) = st.conns.get_mut(&conn)
            {
                c.device = Some(dev.clone());
            }
            known
        };
        let Some(lid_user) = lid_user else {
            // Unknown/removed device: the server refuses with 401 (logged out).
            self.push(
                conn,
                NodeBuilder::new("failure").attr("reason", "401").build(),
            )
            .await;
            return;
        };
        let success = NodeBuilder::new("success")
            .attr("t", now().to_string())
            .attr("lid", format!("{lid_user}:{}@lid", dev.device))
            .attr("props", "1")
            .attr("creation", (now() - 86400).to_string())
            .attr("location", "fake")
            .build();
        self.push(conn, success).await;
        let queued = self
            .state
            .lock()
            .await
            .unreceipted
            .get(&dev.to_string())
            .cloned()
            .unwrap_or_default();
        for (_, n) in &queued {
            self.push(conn, n.clone()).await;
        }
        let count = queued.len().to_string();
        self.push(
            conn,
            NodeBuilder::new("ib")
                .children([NodeBuilder::new("offline").attr("count", count).build()])
                .build(),
        )
        .await;
        self.observe(Observed::LoggedIn {
            conn,
            device: dev.to_string(),
        });
        let first = self.state.lock().await.key_shared.insert(dev.to_string());
        if first
            && self.opts.lock().unwrap().share_app_state_key
            && let Err(e) = self.share_app_state_key(conn, &dev).await
        {
            tracing::warn!("fake-server: key share failed: {e:#}");
        }
    }

    // ---------------------------------------------------------- stanzas

    async fn on_stanza(&self, conn: u64, n: Node) -> anyhow::Result<()> {
        tracing::trace!(
            "fake-server conn {conn} <- <{} {:?}>",
            n.tag,
            attr(&n, "type")
        );
        match n.tag.as_ref() {
            "iq" => self.on_iq(conn, n).await,
            "message" => self.on_message(conn, n).await,
            "receipt" => {
                let id = attr(&n, "id").unwrap_or_default();
                let ty = attr(&n, "type").unwrap_or_else(|| "delivery".into());
                let mut ack = NodeBuilder::new("ack")
                    .attr("class", "receipt")
                    .attr("id", id.clone());
                if let Some(to) = attr(&n, "to") {
                    ack = ack.attr("from", to);
                }
                if ty != "delivery" {
                    ack = ack.attr("type", ty.clone());
                }
                self.push(conn, ack.build()).await;
                {
                    let mut st = self.state.lock().await;
                    if let Some(d) = st.conns.get(&conn).and_then(|c| c.device.clone())
                        && let Some(q) = st.unreceipted.get_mut(&d.to_string())
                    {
                        q.retain(|(i, _)| *i != id);
                    }
                }
                self.observe(Observed::ClientReceipt { id, r#type: ty });
                Ok(())
            }
            "ack" => {
                self.observe(Observed::ClientAck {
                    id: attr(&n, "id").unwrap_or_default(),
                    class: attr(&n, "class").unwrap_or_default(),
                });
                Ok(())
            }
            "chatstate" => {
                let state = children(&n)
                    .first()
                    .map(|c| c.tag.to_string())
                    .unwrap_or_default();
                self.observe(Observed::ChatState {
                    to: attr(&n, "to").unwrap_or_default(),
                    state,
                });
                Ok(())
            }
            "call" => {
                let to = attr(&n, "to").unwrap_or_default();
                for action in children(&n) {
                    self.observe(Observed::CallSignal {
                        action: action.tag.to_string(),
                        call_id: attr(action, "call-id").unwrap_or_default(),
                        to: to.clone(),
                    });
                }
                Ok(())
            }
            // A new push name is announced in a presence with a name and no type (presences of
            // a type carry the name too).
            "presence" if attr(&n, "type").is_none() && attr(&n, "name").is_some() => {
                self.observe(Observed::PushName {
                    name: attr(&n, "name").unwrap_or_default(),
                });
                Ok(())
            }
            "presence" => {
                self.observe(Observed::Presence {
                    r#type: attr(&n, "type").unwrap_or_default(),
                });
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn on_iq(&self, conn: u64, n: Node) -> anyhow::Result<()> {
        let id = attr(&n, "id").unwrap_or_default();
        let ty = attr(&n, "type").unwrap_or_default();
        if ty == "result" || ty == "error" {
            // Answers to our IQs: pair-device ack, pair-device-sign.
            if let Some(sign) = n.get_optional_child("pair-device-sign") {
                let _ = sign; // a real server would verify the device signature here
                let device = self
                    .state
                    .lock()
                    .await
                    .accounts
                    .iter()
                    .map(|(p, a)| format!("{p}:{}", a.next_device - 1))
                    .next()
                    .unwrap_or_default();
                self.observe(Observed::PairSigned { conn, device });
                // After pairing the server restarts the stream (515); the client reconnects and logs in.
                self.push(
                    conn,
                    NodeBuilder::new("stream:error").attr("code", "515").build(),
                )
                .await;
                if let Some(c) = self.state.lock().await.conns.get(&conn) {
                    let _ = c.out.send(Out::Close);
                }
            }
            return Ok(());
        }
        let xmlns = attr(&n, "xmlns").unwrap_or_default();
        if xmlns == "w:g2" {
            return self.on_group_iq(conn, &id, &n).await;
        }
        let reply = match xmlns.as_str() {
            "encrypt" => self.on_encrypt_iq(conn, &id, &n).await?,
            "usync" => self.on_usync(&id, &n).await,
            "w:sync:app:state" => {
                let cols = n
                    .get_optional_child("sync")
                    .map(|s| {
                        s.get_children_by_tag("collection")
                            .map(|c| {
                                NodeBuilder::new("collection")
                                    .attr("name", attr(c, "name").unwrap_or_default())
                                    .build()
                            })
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                iq_result(&id)
                    .children([NodeBuilder::new("sync").children(cols).build()])
                    .build()
            }
            // Minimal bodies so the client's background init parses them (empty props/privacy).
            "w" if n.get_optional_child("props").is_some() => iq_result(&id)
                .children([NodeBuilder::new("props")
                    .attr("protocol", "2")
                    .attr("hash", "fake")
                    .build()])
                .build(),
            "privacy" => iq_result(&id)
                .children([NodeBuilder::new("privacy").build()])
                .build(),
            "w:profile:picture" if ty == "set" => {
                let bytes = match n
                    .get_optional_child("picture")
                    .and_then(|p| p.content.as_ref())
                {
                    Some(NodeContent::Bytes(b)) => b.to_vec(),
                    _ => Vec::new(),
                };
                self.observe(Observed::PictureSet { bytes });
                iq_result(&id)
                    .children([NodeBuilder::new("picture").attr("id", "1").build()])
                    .build()
            }
            "w:profile:picture" => {
                let target = attr(&n, "target").unwrap_or_default();
                let user = target.split('@').next().unwrap_or_default().to_owned();
                self.observe(Observed::PictureAsked { target });
                let picture = self.profiles.lock().unwrap().picture(&user);
                iq_result(&id).children([picture]).build()
            }
            "blocklist" if ty == "set" => {
                for item in n.get_optional_child("item").into_iter().chain(
                    n.get_optional_child("list")
                        .map(children)
                        .unwrap_or_default(),
                ) {
                    self.observe(Observed::BlocklistChanged {
                        action: attr(item, "action").unwrap_or_default(),
                        jid: attr(item, "pn_jid")
                            .or_else(|| attr(item, "jid"))
                            .unwrap_or_default(),
                    });
                }
                iq_result(&id).build()
            }
            "status" => {
                let text = n
                    .get_optional_child("status")
                    .and_then(|s| s.content_as_string())
                    .unwrap_or_default();
                self.observe(Observed::AboutSet {
                    text: text.to_string(),
                });
                iq_result(&id).build()
            }
            "blocklist" => {
                let account = self
                    .state
                    .lock()
                    .await
                    .conns
                    .get(&conn)
                    .and_then(|c| c.device.as_ref().map(|d| d.user.to_string()))
                    .unwrap_or_default();
                self.observe(Observed::BlocklistAsked);
                let list = self.profiles.lock().unwrap().blocklist(&account);
                iq_result(&id).children([list]).build()
            }
            // Pair-code stage 1 (companion_hello): hand out a pairing ref. Stages 2-3
            // (primary_hello notification, companion_finish, pair-success keyed by the
            // code-derived adv secret) are not modelled yet.
            "md" if n.get_optional_child("link_code_companion_reg").is_some() => {
                self.observe(Observed::PairCodeRequested {
                    phone: n
                        .get_optional_child("link_code_companion_reg")
                        .and_then(|r| attr(r, "jid"))
                        .unwrap_or_default(),
                });
                iq_result(&id)
                    .children([NodeBuilder::new("link_code_companion_reg")
                        .children([NodeBuilder::new("link_code_pairing_ref")
                            .bytes(self.fresh_id("LINKREF").into_bytes())
                            .build()])
                        .build()])
                    .build()
            }
            "w:m" => iq_result(&id)
                .children([NodeBuilder::new("media_conn")
                    .attr("auth", "fake-auth")
                    .attr("ttl", "3600")
                    .children([NodeBuilder::new("host")
                        .attr("hostname", super::media::HOST)
                        .build()])
                    .build()])
                .build(),
            _ => iq_result(&id).build(),
        };
        self.push(conn, reply).await;
        Ok(())
    }

    async fn on_encrypt_iq(&self, conn: u64, id: &str, n: &Node) -> anyhow::Result<Node> {
        let dev = self
            .state
            .lock()
            .await
            .conns
            .get(&conn)
            .and_then(|c| c.device.clone());
        if let Some(reg) = n.get_optional_child("registration") {
            // Prekey upload: becomes this device's published bundle.
            let get = |t: &str| {
                n.get_optional_child(t)
                    .and_then(bytes_of)
                    .map(|b| b.to_vec())
                    .unwrap_or_default()
            };
            let skey = n.get_optional_child("skey");
            let sk = |t: &str| {
                skey.and_then(|s| s.get_optional_child(t))
                    .and_then(bytes_of)
                    .map(|b| b.to_vec())
                    .unwrap_or_default()
            };
            let one_time: Vec<(u32, [u8; 32])> = n
                .get_optional_child("list")
                .map(|l| {
                    l.get_children_by_tag("key")
                        .filter_map(|k| {
                            let id = be_u32(k.get_optional_child("id").and_then(bytes_of)?);
                            let v: [u8; 32] = k
                                .get_optional_child("value")
                                .and_then(bytes_of)?
                                .try_into()
                                .ok()?;
                            Some((id, v))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let count = one_time.len();
            let b = PublishedBundle {
                registration_id: be_u32(bytes_of(reg).unwrap_or_default()),
                identity: get("identity").try_into().unwrap_or([0; 32]),
                signed_id: be_u32(&sk("id")),
                signed_pub: sk("value").try_into().unwrap_or([0; 32]),
                signed_sig: sk("signature"),
                one_time,
            };
            if let Some(d) = &dev
                && let Some(a) = self.state.lock().await.accounts.get_mut(d.user.as_str())
            {
                a.companions.insert(d.device, Some(b));
            }
            self.observe(Observed::PreKeysUploaded {
                device: dev.map(|d| d.to_string()).unwrap_or_default(),
                count,
            });
            return Ok(iq_result(id).build());
        }
        if n.get_optional_child("count").is_some() {
            let count = match &dev {
                Some(d) => self
                    .state
                    .lock()
                    .await
                    .accounts
                    .get(d.user.as_str())
                    .and_then(|a| a.companions.get(&d.device).cloned().flatten())
                    .map(|b| b.one_time.len())
                    .unwrap_or(0),
                None => 0,
            };
            return Ok(iq_result(id)
                .children([NodeBuilder::new("count")
                    .attr("value", count.to_string())
                    .build()])
                .build());
        }
        if let Some(key) = n.get_optional_child("key") {
            // Prekey fetch: bundles of fake phones (contacts, and the account's own primary).
            let mut users = Vec::new();
            let mut st = self.state.lock().await;
            for u in key.get_children_by_tag("user") {
                let Some(jid) = attr(u, "jid").and_then(|j| j.parse::<Jid>().ok()) else {
                    continue;
                };
                if jid.device != 0 {
                    continue; // companions of contacts are not modelled
                }
                let peer = if st.contacts.contains_key(jid.user.as_str()) {
                    st.contacts.get_mut(jid.user.as_str())
                } else {
                    st.account_mut(&jid.user).map(|a| &mut a.primary)
                };
                if let Some(p) = peer {
                    users.push(p.bundle_node(jid.clone())?);
                }
            }
            return Ok(iq_result(id)
                .children([NodeBuilder::new("list").children(users).build()])
                .build());
        }
        Ok(iq_result(id).build())
    }

    async fn on_usync(&self, id: &str, n: &Node) -> Node {
        let Some(us) = n.get_optional_child("usync") else {
            return iq_result(id).build();
        };
        let query: Vec<String> = us
            .get_optional_child("query")
            .map(|q| children(q).iter().map(|c| c.tag.to_string()).collect())
            .unwrap_or_default();
        let st = self.state.lock().await;
        let mut out = Vec::new();
        for u in us
            .get_optional_child("list")
            .map(children)
            .unwrap_or_default()
        {
            // A user is named by jid, or by <contact>+phone</contact>.
            let named = attr(u, "jid").and_then(|j| j.parse::<Jid>().ok());
            let user = named
                .as_ref()
                .map(|j| j.user.to_string())
                .or_else(|| {
                    u.get_optional_child("contact")
                        .and_then(|c| c.content_as_string())
                        .map(|s| s.trim_start_matches('+').to_string())
                })
                .unwrap_or_default();
            let reply_jid = named
                .map(|j| j.to_non_ad().to_string())
                .unwrap_or_else(|| format!("{user}@s.whatsapp.net"));
            let known = st.is_known(&user);
            let mut kids = Vec::new();
            for q in &query {
                match q.as_str() {
                    "contact" => kids.push(
                        NodeBuilder::new("contact")
                            .attr("type", if known { "in" } else { "out" })
                            .build(),
                    ),
                    // Phones have a LID of their own: 3 and the number.
                    "lid" if known && !st.lid_contacts.contains_key(&user) => kids.push(
                        NodeBuilder::new("lid")
                            .attr("val", format!("3{user}@lid"))
                            .build(),
                    ),
                    // Only device 0 per user: companions would need ADV key-index lists.
                    "devices" if known => kids.push(
                        NodeBuilder::new("devices")
                            .children([NodeBuilder::new("device-list")
                                .children([NodeBuilder::new("device").attr("id", "0").build()])
                                .build()])
                            .build(),
                    ),
                    _ => {}
                }
            }
            if known {
                kids.extend(self.profiles.lock().unwrap().usync(&user, &query));
            }
            out.push(
                NodeBuilder::new("user")
                    .attr("jid", reply_jid)
                    .children(kids)
                    .build(),
            );
        }
        iq_result(id)
            .children([NodeBuilder::new("usync")
                .children([NodeBuilder::new("list").children(out).build()])
                .build()])
            .build()
    }

    async fn on_message(&self, conn: u64, n: Node) -> anyhow::Result<()> {
        let id = attr(&n, "id").unwrap_or_default();
        let to = attr(&n, "to").unwrap_or_default();
        let group = to.ends_with("@g.us").then(|| to.clone());
        let (nack, receipts) = {
            let o = self.opts.lock().unwrap();
            (o.nack_messages.clone(), o.contact_receipts)
        };
        let mut receipted_by: Vec<String> = Vec::new();
        let mut ack = NodeBuilder::new("ack")
            .attr("class", "message")
            .attr("id", id.clone())
            .attr("from", to.clone());
        if let Some(code) = &nack {
            ack = ack.attr("error", code.clone());
        } else {
            ack = ack.attr("t", now().to_string());
        }
        // Decrypt for every fake device addressed, before acking (the ack means "stored").
        if nack.is_none() {
            let from = self
                .state
                .lock()
                .await
                .conns
                .get(&conn)
                .and_then(|c| c.device.as_ref().map(|d| d.to_string()))
                .unwrap_or_default();
            let mut pairwise: Vec<(String, Node)> = Vec::new();
            if let Some(ps) = n.get_optional_child("participants") {
                for t in ps.get_children_by_tag("to") {
                    if let Some(e) = t.get_optional_child("enc") {
                        pairwise.push((attr(t, "jid").unwrap_or_default(), e.clone()));
                    }
                }
            }
            let mut for_group = Vec::new();
            for e in n.get_children_by_tag("enc") {
                if group.is_some() {
                    for_group.push(e.clone());
                } else {
                    pairwise.push((to.clone(), e.clone()));
                }
            }
            for (dest, enc) in pairwise {
                let Some(body) = self.peer_decrypts(&dest, &from, &enc).await else {
                    continue;
                };
                if let Some(g) = &group {
                    // In a group send, the pairwise part carries the sender's key.
                    if let Some(skdm) = body.sender_key_distribution_message.as_option()
                        && let Some(bytes) = &skdm.axolotl_sender_key_distribution_message
                        && let Err(e) = self.peer_takes_sender_key(&dest, g, &from, bytes).await
                    {
                        tracing::warn!(
                            "fake peer {dest} could not take {from}'s sender key: {e:#}"
                        );
                    }
                    continue;
                }
                let user = dest.split(['@', ':']).next().unwrap_or_default().to_owned();
                if self.state.lock().await.contacts.contains_key(&user)
                    && !receipted_by.contains(&user)
                {
                    receipted_by.push(user);
                }
                self.observe(Observed::PeerReceived {
                    from: from.clone(),
                    to: dest,
                    id: id.clone(),
                    text: text_of(&body),
                    message: Box::new(body),
                    group: None,
                });
            }
            if let Some(g) = &group {
                for enc in for_group {
                    for (member, body) in self.members_decrypt(g, &from, &enc).await {
                        self.observe(Observed::PeerReceived {
                            from: from.clone(),
                            to: format!("{member}@s.whatsapp.net"),
                            id: id.clone(),
                            text: text_of(&body),
                            message: Box::new(body),
                            group: Some(g.clone()),
                        });
                        receipted_by.push(member);
                    }
                }
            }
        }
        let group = group.as_deref();
        if receipts == Some(ContactReceipts::BeforeAck) {
            self.contact_receipts(conn, &receipted_by, &id, group).await;
        }
        self.push(conn, ack.build()).await;
        self.observe(Observed::ServerAcked {
            id: id.clone(),
            error: nack,
        });
        if receipts == Some(ContactReceipts::AfterAck) {
            self.contact_receipts(conn, &receipted_by, &id, group).await;
        }
        Ok(())
    }

    /// The fake phone `dest` (a contact, or an account's primary) decrypts a pairwise `<enc>`
    /// from `from`; own-device copies come unwrapped from their DeviceSentMessage.
    async fn peer_decrypts(&self, dest: &str, from: &str, enc: &Node) -> Option<wa::Message> {
        let dest_jid = dest.parse::<Jid>().ok()?;
        let mut st = self.state.lock().await;
        let st = &mut *st;
        let peer = if st.contacts.contains_key(dest_jid.user.as_str()) {
            st.contacts.get_mut(dest_jid.user.as_str())
        } else if dest_jid.device == 0 {
            st.account_mut(&dest_jid.user).map(|a| &mut a.primary)
        } else {
            None
        }?;
        let ty = attr(enc, "type").unwrap_or_default();
        match peer
            .decrypt(from, &ty, bytes_of(enc).unwrap_or_default())
            .await
        {
            Ok(m) => Some(
                m.device_sent_message
                    .as_option()
                    .and_then(|d| d.message.as_option())
                    .cloned()
                    .unwrap_or(m),
            ),
            Err(e) => {
                tracing::warn!("fake peer {dest} could not decrypt {ty} from {from}: {e:#}");
                None
            }
        }
    }

    async fn peer_takes_sender_key(
        &self,
        dest: &str,
        group: &str,
        from: &str,
        skdm: &[u8],
    ) -> anyhow::Result<()> {
        let dest_jid: Jid = dest.parse()?;
        let mut st = self.state.lock().await;
        let st = &mut *st;
        let peer = match st.contacts.get_mut(dest_jid.user.as_str()) {
            Some(p) => p,
            None => {
                &mut st
                    .account_mut(&dest_jid.user)
                    .ok_or_else(|| anyhow::anyhow!("no phone {dest}"))?
                    .primary
            }
        };
        peer.take_sender_key(group, from, skdm).await
    }

    /// The group's contacts decrypt a group message (`skmsg`) from `from`: who did, and what.
    async fn members_decrypt(
        &self,
        group: &str,
        from: &str,
        enc: &Node,
    ) -> Vec<(String, wa::Message)> {
        let mut st = self.state.lock().await;
        let st = &mut *st;
        let members: Vec<String> = st
            .groups
            .get(group)
            .map(|g| g.members.iter().map(|(p, _)| p.clone()).collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        for member in members {
            let Some(peer) = st.contacts.get_mut(&member) else {
                continue;
            };
            match peer
                .decrypt_group(group, from, bytes_of(enc).unwrap_or_default())
                .await
            {
                Ok(m) => out.push((member, m)),
                Err(e) => tracing::warn!(
                    "fake member {member} could not decrypt {from}'s group message: {e:#}"
                ),
            }
        }
        out
    }

    /// Each contact that decrypted message `id` reports it delivered, then read, to the sender
    /// (in a group, as that group's member).
    async fn contact_receipts(
        &self,
        conn: u64,
        contacts: &[String],
        id: &str,
        group: Option<&str>,
    ) {
        for contact in contacts {
            for r#type in [None, Some("read")] {
                let contact_jid = format!("{contact}@s.whatsapp.net");
                let mut b = NodeBuilder::new("receipt")
                    .attr("id", id.to_string())
                    .attr("t", now().to_string());
                b = match group {
                    Some(g) => b
                        .attr("from", g.to_owned())
                        .attr("participant", contact_jid),
                    None => b.attr("from", contact_jid),
                };
                if let Some(t) = r#type {
                    b = b.attr("type", t);
                }
                self.push(conn, b.build()).await;
            }
        }
    }
}

/// What a test reads as a message's text: conversation or extended text, or an image caption.
fn text_of(body: &wa::Message) -> Option<String> {
    body.conversation
        .clone()
        .or_else(|| {
            body.extended_text_message
                .as_option()
                .and_then(|x| x.text.clone())
        })
        .or_else(|| {
            body.image_message
                .as_option()
                .and_then(|i| i.caption.clone())
        })
}

/// `TransportFactory` that connects the client to the fake server in-process.
pub struct FakeTransportFactory {
    server: Arc<FakeServer>,
}

#[async_trait]
impl TransportFactory for FakeTransportFactory {
    async fn create_transport(
        &self,
    ) -> anyhow::Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>)> {
        let (c2s_tx, ev_tx, ev_rx) = self.server.open_conn().await?;
        Ok((
            Arc::new(PipeTransport {
                to_server: c2s_tx,
                events: ev_tx,
            }),
            ev_rx,
        ))
    }
}

impl FakeServer {
    /// A new server-side connection: bytes from the client go into the first sender; the
    /// server's transport events come out of the receiver.
    #[allow(clippy::type_complexity)]
    pub(crate) async fn open_conn(
        self: &Arc<Self>,
    ) -> anyhow::Result<(
        async_channel::Sender<Bytes>,
        async_channel::Sender<TransportEvent>,
        async_channel::Receiver<TransportEvent>,
    )> {
        let (c2s_tx, c2s_rx) = async_channel::unbounded::<Bytes>();
        let (ev_tx, ev_rx) = async_channel::unbounded::<TransportEvent>();
        ev_tx.send(TransportEvent::Connected).await?;
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(self.clone().run_conn(conn, c2s_rx, ev_tx.clone()));
        Ok((c2s_tx, ev_tx, ev_rx))
    }
}
