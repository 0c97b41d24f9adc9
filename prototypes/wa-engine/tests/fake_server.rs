//! The real whatsapp-rust client against the in-process fake server, on
//! wagate's KvBackend. Run: nice -n 15 cargo test --features fake-server -j 1 -- --nocapture
#![cfg(feature = "fake-server")]

mod common;
use common::*;
use std::time::Duration;
use wa_engine_scratch::fake::{FakeServer, Observed};
use whatsapp_rust::prelude::*;
use whatsapp_rust::wacore::types::presence::ReceiptType;
use whatsapp_rust::types::events::InboundMessage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_client_pairs_and_connects() {
    init_log();
    let server = FakeServer::new();
    let backend = new_backend();
    let mut s = start(&server, backend.clone(), None).await;
    let (t_qr, t_conn) = pair(&server, &mut s, "15550001111").await;
    println!("QR after {t_qr:?}, connected after {t_conn:?}");
    let ps = s.wait_event(Duration::from_secs(1), |e| matches!(e, Event::PairSuccess(_))).await.expect("PairSuccess");
    println!("pair success: {ps:?}");
    let c = s.client();
    assert!(c.is_logged_in());
    println!("events: {:?}", s.kinds());
    println!("observed: {:#?}", server.observed());
    s.handle.shutdown().await;
}

/// Client → contact: the peer decrypts the right text, the server ack surfaces as
/// `Event::ServerAck`, the peer's receipts as `Event::Receipt`, and a nack carries its code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_text_is_decrypted_by_peer_and_acked() {
    init_log();
    let server = FakeServer::new();
    server.add_contact("15552223333").await;
    let mut s = start(&server, new_backend(), None).await;
    pair(&server, &mut s, "15550001111").await;
    let to: Jid = "15552223333@s.whatsapp.net".parse().unwrap();

    let t0 = std::time::Instant::now();
    let sent = s.client().send_text(to.clone(), "hello from wagate").await.expect("send_text");
    let t_send = t0.elapsed();
    let got = server
        .wait_for(Duration::from_secs(10), |o| matches!(o, Observed::PeerReceived { to, .. } if to.starts_with("15552223333")))
        .await
        .expect("peer got nothing");
    println!("send_text returned after {t_send:?}; peer got {got:?}");
    let Observed::PeerReceived { text, id, .. } = got else { unreachable!() };
    assert_eq!(text.as_deref(), Some("hello from wagate"));
    assert_eq!(id, sent.message_id);
    let id2 = sent.message_id.clone();
    let ack = s.wait_event(Duration::from_secs(5), |e| matches!(e, Event::ServerAck(a) if a.id == id2)).await;
    println!("server ack event: {ack:?} after {:?}", t0.elapsed());
    assert!(ack.is_some());
    // Did the client also encrypt a DeviceSentMessage for its own primary phone?
    let own = server.observed().into_iter().any(|o| matches!(o, Observed::PeerReceived { to, .. } if to.starts_with("15550001111")));
    println!("own phone received the DSM copy: {own}");

    // Receipts from the peer → Event::Receipt delivered, then read.
    server.receipt_from("15552223333", "15550001111", &[&sent.message_id], None).await;
    server.receipt_from("15552223333", "15550001111", &[&sent.message_id], Some("read")).await;
    let r1 = s.wait_event(Duration::from_secs(5), |e| matches!(e, Event::Receipt(r) if r.r#type == ReceiptType::Delivered)).await;
    let r2 = s.wait_event(Duration::from_secs(5), |e| matches!(e, Event::Receipt(r) if r.r#type == ReceiptType::Read)).await;
    println!("receipts: {r1:?} / {r2:?}");
    assert!(r1.is_some() && r2.is_some());

    // A nack.
    server.opts.lock().unwrap().nack_messages = Some("479".into());
    let sent = s.client().send_text(to, "this one fails").await.expect("send_text");
    let id3 = sent.message_id.clone();
    let nack = s.wait_event(Duration::from_secs(5), |e| matches!(e, Event::ServerAck(a) if a.id == id3)).await.expect("nack");
    let Event::ServerAck(a) = &*nack else { unreachable!() };
    println!("nack: {a:?}");
    assert_eq!(a.error.as_deref(), Some("479"));
    s.handle.shutdown().await;
}

/// Contact → client: E2E message decrypted into `Event::Messages`; the client acks it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_text_from_peer() {
    init_log();
    let server = FakeServer::new();
    server.add_contact("15552223333").await;
    let mut s = start(&server, new_backend(), None).await;
    pair(&server, &mut s, "15550001111").await;
    server.wait_for(Duration::from_secs(5), |o| matches!(o, Observed::PreKeysUploaded { .. })).await.expect("prekeys");
    let t0 = std::time::Instant::now();
    let id = server.send_text_from("15552223333", "15550001111", "hi wagate").await.expect("peer send");
    let id2 = id.clone();
    let ev = s
        .wait_event(Duration::from_secs(10), |e| matches!(e, Event::Messages(b) if b.messages.iter().any(|m| m.info.id == id2)))
        .await
        .expect("no message event");
    let Event::Messages(batch) = &*ev else { unreachable!() };
    let m = &batch.messages[0];
    println!("received after {:?}: id={} from={} push_name={:?} text={:?}", t0.elapsed(), m.info.id, m.info.source.sender, m.info.push_name, m.message.conversation);
    assert_eq!(m.info.id, id);
    assert_eq!(m.message.conversation.as_deref(), Some("hi wagate"));
    let ack = server.wait_for(Duration::from_secs(5), |o| matches!(o, Observed::ClientAck { id: i, .. } if *i == id)).await;
    let rcpt = server.wait_for(Duration::from_secs(5), |o| matches!(o, Observed::ClientReceipt { id: i, .. } if *i == id)).await;
    println!("client ack: {ack:?}; client receipt: {rcpt:?}");
    s.handle.shutdown().await;
}

/// A hook that can be told to hang (a "crash" before commit) and records commits.
struct TestHook {
    hang: std::sync::atomic::AtomicBool,
    calls: std::sync::atomic::AtomicU32,
    /// Calls whose batch carried user text (protocol messages also pass the hook).
    text_calls: std::sync::atomic::AtomicU32,
    committed: std::sync::Mutex<Vec<(String, Option<String>)>>,
}
#[async_trait::async_trait]
impl whatsapp_rust::InboundDurabilityHook for TestHook {
    async fn on_messages(&self, _c: std::sync::Arc<Client>, batch: &[InboundMessage]) -> anyhow::Result<()> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // Only user text "crashes" the process; protocol messages (the phone's
        // app-state key share also goes through the hook) commit normally.
        let has_text = batch.iter().any(|m| m.message.conversation.is_some());
        if has_text {
            self.text_calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        if has_text && self.hang.load(std::sync::atomic::Ordering::SeqCst) {
            futures_pending().await;
        }
        let mut c = self.committed.lock().unwrap();
        for m in batch.iter().filter(|m| m.message.conversation.is_some()) {
            // Idempotent by (chat, sender, id), as the contract requires.
            let k = (m.info.id.clone(), m.message.conversation.clone());
            if !c.contains(&k) {
                c.push(k);
            }
        }
        Ok(())
    }
}
async fn futures_pending() {
    std::future::pending::<()>().await
}

/// Inbound durability: the first process "dies" inside the hook (never commits,
/// is aborted); WhatsApp must not have been acked (no receipt). A new process on
/// the same backend gets the message redelivered and commits it exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_message_is_redelivered_after_crash() {
    init_log();
    let server = FakeServer::new();
    server.add_contact("15552223333").await;
    let backend = new_backend();
    let hook = std::sync::Arc::new(TestHook {
        hang: true.into(),
        calls: 0.into(),
        text_calls: 0.into(),
        committed: Default::default(),
    });
    let mut s = start(&server, backend.clone(), Some(hook.clone())).await;
    pair(&server, &mut s, "15550001111").await;
    server.wait_for(Duration::from_secs(5), |o| matches!(o, Observed::PreKeysUploaded { .. })).await.expect("prekeys");
    let id = server.send_text_from("15552223333", "15550001111", "durable?").await.unwrap();
    for _ in 0..100 {
        if hook.text_calls.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hook.text_calls.load(std::sync::atomic::Ordering::SeqCst), 1, "hook was not called with the text");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let receipted = server.observed().iter().any(|o| matches!(o, Observed::ClientReceipt { id: i, .. } if *i == id));
    assert!(!receipted, "message was acked before the hook committed");
    let (rows, bytes) = backend.store().size();
    println!("hook hanging, no receipt sent; backend has {rows} rows / {bytes} bytes");
    // kill -9 equivalent: abort the bot without any flush.
    s.handle.abort();
    drop(s);
    server.drop_connections("15550001111").await;

    hook.hang.store(false, std::sync::atomic::Ordering::SeqCst);
    let t0 = std::time::Instant::now();
    let mut s2 = start(&server, backend.clone(), Some(hook.clone())).await;
    let ev = s2
        .wait_event(Duration::from_secs(15), |e| matches!(e, Event::Messages(b) if b.messages.iter().any(|m| m.info.id == id)))
        .await;
    println!("after restart: {:?} in {:?}; committed={:?}", ev.as_ref().map(|e| e.kind()), t0.elapsed(), hook.committed.lock().unwrap());
    let rcpt = server.wait_for(Duration::from_secs(5), |o| matches!(o, Observed::ClientReceipt { id: i, .. } if *i == id)).await;
    println!("receipt after commit: {rcpt:?}");
    assert_eq!(hook.committed.lock().unwrap().as_slice(), &[(id.clone(), Some("durable?".to_string()))]);
    assert!(rcpt.is_some());
    s2.handle.shutdown().await;
}

/// The version given to `with_version` is what the client announces; a server
/// demanding another one answers 405 → `Event::ClientOutdated`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_version_is_announced() {
    init_log();
    let server = FakeServer::new();
    server.opts.lock().unwrap().require_version = Some((2, 3000, 9));
    let mut s = start(&server, new_backend(), None).await;
    let hs = server.wait_for(Duration::from_secs(5), |o| matches!(o, Observed::Handshake { .. })).await.unwrap();
    println!("{hs:?}");
    assert!(matches!(hs, Observed::Handshake { version, .. } if version == VERSION));
    let ev = s.wait_event(Duration::from_secs(5), |e| matches!(e, Event::ClientOutdated(_))).await;
    println!("events: {:?}", s.kinds());
    assert!(ev.is_some());
    s.handle.abort();
}

/// Network loss → `Disconnected` → automatic reconnect → `Connected`;
/// phone unlinks the device → `LoggedOut`, no reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_then_logout() {
    init_log();
    let server = FakeServer::new();
    server.add_contact("15552223333").await;
    let mut s = start(&server, new_backend(), None).await;
    pair(&server, &mut s, "15550001111").await;
    let n_conn = s.seen.iter().filter(|e| matches!(***e, Event::Connected(_))).count();
    let t0 = std::time::Instant::now();
    server.drop_connections("15550001111").await;
    let d = s.wait_event(Duration::from_secs(5), |e| matches!(e, Event::Disconnected(_))).await;
    println!("disconnected: {d:?}");
    assert!(d.is_some());
    // wait for a second Connected
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let c = s.seen.iter().filter(|e| matches!(***e, Event::Connected(_))).count();
        if c > n_conn {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no reconnect; events {:?}", s.kinds());
        let _ = tokio::time::timeout(Duration::from_millis(200), async {
            if let Ok(e) = s.events.recv().await {
                s.seen.push(e);
            }
        })
        .await;
    }
    println!("reconnected after {:?}", t0.elapsed());

    // Extra API calls against the fake while connected.
    let res = s
        .client()
        .contacts()
        .is_on_whatsapp(&["15552223333@s.whatsapp.net".parse().unwrap(), "15559999999@s.whatsapp.net".parse().unwrap()])
        .await
        .expect("is_on_whatsapp");
    println!("is_on_whatsapp: {:?}", res.iter().map(|r| (r.jid.to_string(), r.is_registered)).collect::<Vec<_>>());
    assert!(res.iter().any(|r| r.jid.user == "15552223333" && r.is_registered));
    assert!(res.iter().any(|r| r.jid.user == "15559999999" && !r.is_registered));
    let to: Jid = "15552223333@s.whatsapp.net".parse().unwrap();
    s.client().chatstate().send_composing(&to).await.expect("composing");
    let cs = server.wait_for(Duration::from_secs(3), |o| matches!(o, Observed::ChatState { .. })).await;
    println!("chatstate: {cs:?}");
    let id = server.send_text_from("15552223333", "15550001111", "read me").await.unwrap();
    let id2 = id.clone();
    s.wait_event(Duration::from_secs(5), |e| matches!(e, Event::Messages(b) if b.messages.iter().any(|m| m.info.id == id2))).await.expect("msg");
    s.client().mark_as_read(&to, None, &[id.as_str()]).await.expect("mark_as_read");
    let read = server.wait_for(Duration::from_secs(3), |o| matches!(o, Observed::ClientReceipt { id: i, r#type } if *i == id && r#type == "read")).await;
    println!("read receipt: {read:?}");
    assert!(read.is_some());

    server.logout_companions("15550001111").await;
    let lo = s.wait_event(Duration::from_secs(5), |e| matches!(e, Event::LoggedOut(_))).await;
    println!("logged out: {lo:?}; events {:?}", s.kinds());
    assert!(lo.is_some());
    s.handle.shutdown().await;
}

/// Media both ways: upload + image message to a contact (the peer decrypts the
/// message and the blob decrypts with its media key), and an image from a
/// contact that the client downloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_send_and_receive() {
    use whatsapp_rust::download::MediaType;
    use whatsapp_rust::media::{ImageOptions, image_message};
    use whatsapp_rust::upload::UploadOptions;
    init_log();
    let server = FakeServer::new();
    server.add_contact("15552223333").await;
    let mut s = start(&server, new_backend(), None).await;
    pair(&server, &mut s, "15550001111").await;
    let to: Jid = "15552223333@s.whatsapp.net".parse().unwrap();
    let jpeg = vec![0xFFu8, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

    let up = s.client().upload(jpeg.clone(), MediaType::Image, UploadOptions::default()).await.expect("upload");
    println!("uploaded: {} {}", up.url, up.direct_path);
    let msg = image_message(up, ImageOptions { caption: Some("a picture".into()), ..Default::default() });
    let sent = s.client().send_message(to, msg).await.expect("send image");
    let got = server
        .wait_for(Duration::from_secs(5), |o| matches!(o, Observed::PeerReceived { id, to, .. } if *id == sent.message_id && to.starts_with("15552223333")))
        .await
        .expect("peer got image");
    let Observed::PeerReceived { text, message, .. } = got else { unreachable!() };
    assert_eq!(text.as_deref(), Some("a picture"));
    let img = message.image_message.as_option().expect("image message");
    let blob = server.cdn.get(img.direct_path.as_deref().unwrap()).expect("blob on cdn");
    let plain = whatsapp_rust::wacore::download::DownloadUtils::verify_and_decrypt(&blob, img.media_key.as_deref().unwrap(), MediaType::Image)
        .expect("decrypt blob");
    assert_eq!(plain, jpeg);

    // Contact → client image, downloaded by the client.
    let photo = vec![7u8; 3000];
    let m = server.cdn.image_message(&photo, "from the contact").unwrap();
    let id = server.send_message_from("15552223333", "15550001111", &m, "media").await.unwrap();
    let id2 = id.clone();
    let ev = s
        .wait_event(Duration::from_secs(5), |e| matches!(e, Event::Messages(b) if b.messages.iter().any(|m| m.info.id == id2)))
        .await
        .expect("image message event");
    let Event::Messages(b) = &*ev else { unreachable!() };
    let im = b.messages[0].message.image_message.as_option().expect("image").clone();
    println!("received image caption={:?} media_type={}", im.caption, b.messages[0].info.media_type);
    let data = s.client().download(&im).await.expect("download");
    assert_eq!(data, photo);
    s.handle.shutdown().await;
}

/// Pair-code linking, stage 1: the client requests a code for a phone number and
/// emits `Event::PairingCode` (alongside the QR). Stages 2-3 are not faked yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_code_is_emitted() {
    init_log();
    let server = FakeServer::new();
    let mut s = start_with(&server, new_backend(), None, Some("15550001111")).await;
    let t0 = std::time::Instant::now();
    let ev = s.wait_event(Duration::from_secs(10), |e| matches!(e, Event::PairingCode(_))).await;
    println!("after {:?}: {ev:?}; events {:?}", t0.elapsed(), s.kinds());
    let Some(ev) = ev else { panic!("no pairing code") };
    let Event::PairingCode(pc) = &*ev else { unreachable!() };
    println!("code={} timeout={:?}", pc.code, pc.timeout);
    assert_eq!(pc.code.replace('-', "").len(), 8);
    let req = server.wait_for(Duration::from_secs(1), |o| matches!(o, Observed::PairCodeRequested { .. })).await;
    println!("{req:?}");
    s.handle.abort();
}

/// A conversation (both directions, several messages, so both `pkmsg` and `msg`
/// paths are used), and how much backend traffic each message costs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_and_backend_load() {
    init_log();
    let server = FakeServer::new();
    server.add_contact("15552223333").await;
    let backend = new_backend();
    let mut s = start(&server, backend.clone(), None).await;
    pair(&server, &mut s, "15550001111").await;
    server.wait_for(Duration::from_secs(5), |o| matches!(o, Observed::PreKeysUploaded { .. })).await.expect("prekeys");
    tokio::time::sleep(Duration::from_millis(300)).await; // let post-login tasks settle
    let to: Jid = "15552223333@s.whatsapp.net".parse().unwrap();
    const N: usize = 10;

    let before = backend.store().stats.snapshot();
    let mut ids = Vec::new();
    for i in 0..N {
        let id = server.send_text_from("15552223333", "15550001111", &format!("in {i}")).await.unwrap();
        let id2 = id.clone();
        s.wait_event(Duration::from_secs(5), |e| matches!(e, Event::Messages(b) if b.messages.iter().any(|m| m.info.id == id2)))
            .await
            .unwrap_or_else(|| panic!("inbound {i} missing"));
        ids.push(id);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mid = backend.store().stats.snapshot();
    for i in 0..N {
        let sent = s.client().send_text(to.clone(), format!("out {i}")).await.expect("send");
        server
            .wait_for(Duration::from_secs(5), |o| {
                matches!(o, Observed::PeerReceived { id, to, text, .. } if *id == sent.message_id && to.starts_with("15552223333") && text.as_deref() == Some(&format!("out {i}")))
            })
            .await
            .unwrap_or_else(|| panic!("outbound {i} not decrypted by peer"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = backend.store().stats.snapshot();
    let per = |a: [u64; 4], b: [u64; 4]| -> Vec<f64> { (0..4).map(|k| (b[k] - a[k]) as f64 / N as f64).collect() };
    println!("backend per inbound message  [reads, batches, rows, bytes]: {:?}", per(before, mid));
    println!("backend per outbound message [reads, batches, rows, bytes]: {:?}", per(mid, after));
    s.handle.shutdown().await;
}
