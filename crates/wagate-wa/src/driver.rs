//! Turns the client's events into engine events, in the order the client produced them.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;
use wagate_core::Timestamp;
use wagate_core::contact::ContactReport;
use wagate_core::engine::{EngineEvent, InboundCall};
use wagate_core::failure::FailureCode;
use wagate_core::message::MessageStatus;
use wagate_core::phone::PhoneNumber;
use wagate_core::presence::{ChatState, ContactPresence, ContactState, Presence};
use whatsapp_rust::types::events::Event;
use whatsapp_rust::wacore::types::call::{CallAction, IncomingCall};
use whatsapp_rust::wacore::types::presence::{ChatPresence, ChatPresenceMedia, ReceiptType};
use whatsapp_rust::{Client, Jid};

use crate::address::phone_of;
use crate::shared::Shared;
use crate::{groups, history, receive};

/// What the engine saves as the instance's session: who it is linked as. The keys themselves
/// are in the engine's state tables.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SavedSession {
    pub phone: String,
}

/// The phone number of a contact's JID: a phone-number JID directly, a LID through the mapping
/// the client learnt (none yet: the contact is skipped).
pub async fn phone_for(client: &Client, jid: &Jid) -> Option<PhoneNumber> {
    if let Some(p) = phone_of(jid) {
        return Some(p);
    }
    let entry = client.get_lid_pn_entry(&jid.to_non_ad()).await.ok()??;
    PhoneNumber::parse(&entry.phone_number).ok()
}

/// Reports the account's blocklist (asked for at each connect: it changes on the phone too).
async fn report_blocklist(shared: Arc<Shared>, client: Arc<Client>) {
    let entries = match client.blocking().get_blocklist().await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(instance = %shared.instance, error = %e, "reading the blocklist failed");
            return;
        }
    };
    let mut blocked = Vec::with_capacity(entries.len());
    for e in &entries {
        if let Some(p) = phone_for(&client, &e.jid).await {
            blocked.push(p);
        }
    }
    let _ = shared.sink.emit(EngineEvent::Blocklist(blocked)).await;
}

/// One contact report about `jid`, once its phone number is known.
async fn about_contact(
    client: &Client,
    jid: &Jid,
    fill: impl FnOnce(ContactReport) -> ContactReport,
) -> Option<EngineEvent> {
    let phone = phone_for(client, jid).await?;
    Some(EngineEvent::Contacts(vec![fill(ContactReport::of(phone))]))
}

fn expires_in(timeout: std::time::Duration) -> Timestamp {
    Timestamp::now().plus_millis(timeout.as_millis() as i64)
}

/// A one-to-one call offer (other call signals, and group calls, are not reported).
fn call_of(c: &IncomingCall) -> Option<InboundCall> {
    let CallAction::Offer {
        call_id,
        call_creator,
        caller_pn,
        is_video,
        group_jid: None,
        ..
    } = &c.action
    else {
        return None;
    };
    let from = phone_of(call_creator)
        .or_else(|| caller_pn.as_ref().and_then(phone_of))
        .or_else(|| phone_of(&c.from))?;
    Some(InboundCall {
        call_id: call_id.clone(),
        from,
        is_video: *is_video,
        reply_to: c.from.to_string(),
        creator: call_creator.to_string(),
        timestamp: Timestamp::from_millis(c.timestamp.timestamp_millis()),
    })
}

/// Runs until the client's event stream ends (the bot stopped).
pub async fn drive(
    shared: Arc<Shared>,
    client: Arc<Client>,
    mut events: UnboundedReceiver<Arc<Event>>,
) {
    while let Some(event) = events.recv().await {
        if let Some(out) = translate(&shared, &client, &event).await {
            let ended = matches!(out, EngineEvent::LoggedOut { .. });
            // Not acknowledged to anyone: a failed write was logged by the sink, and the
            // network repeats what matters (receipts, the connection state on reconnect).
            let _ = shared.sink.emit(out).await;
            if ended {
                break;
            }
        }
    }
}

async fn translate(
    shared: &Arc<Shared>,
    client: &Arc<Client>,
    event: &Event,
) -> Option<EngineEvent> {
    match event {
        Event::PairingQrCode(q) => Some(EngineEvent::Qr {
            code: q.code.clone(),
            expires_at: expires_in(q.timeout),
        }),
        Event::PairingCode(p) => Some(EngineEvent::PairingCode {
            code: p.code.clone(),
            expires_at: expires_in(p.timeout),
        }),
        Event::PairSuccess(p) => {
            shared.set_phone(p.id.user.to_string());
            None
        }
        Event::Connected(_) => {
            shared.reachable();
            shared.forget_presence_asked();
            // Without "available" presence, receipts we send read `inactive` and phones show
            // no double ticks.
            let c = client.clone();
            tokio::spawn(async move {
                let _ = c.presence().set_available().await;
            });
            tokio::spawn(report_blocklist(shared.clone(), client.clone()));
            let device = client.persistence_manager().get_device_snapshot();
            let phone = device
                .pn
                .as_ref()
                .map(|j| j.user.to_string())
                .or_else(|| shared.phone())?;
            shared.set_phone(phone.clone());
            let session = serde_json::to_string(&SavedSession {
                phone: phone.clone(),
            })
            .ok()?;
            Some(EngineEvent::Connected {
                phone: PhoneNumber::from_trusted(phone),
                profile_name: Some(device.push_name.clone()).filter(|n| !n.is_empty()),
                session,
            })
        }
        Event::Disconnected(d) => Some(EngineEvent::Reconnecting {
            code: FailureCode::ConnectionLost,
            message: format!(
                "The connection to WhatsApp dropped ({:?}); reconnecting.",
                d.reason
            ),
        }),
        Event::LoggedOut(l) => {
            // The device is unlinked: its keys are worthless, and must not be reused.
            shared.shutdown().await;
            if let Err(e) = shared.backend.wipe().await {
                tracing::error!(instance = %shared.instance, error = %e, "wiping session state failed");
            }
            Some(EngineEvent::LoggedOut {
                code: FailureCode::LoggedOut,
                message: format!("WhatsApp logged the device out ({:?}).", l.reason),
            })
        }
        Event::StreamReplaced(_) => Some(EngineEvent::LoggedOut {
            code: FailureCode::StreamReplaced,
            message: "Another client took over this WhatsApp session.".into(),
        }),
        Event::TemporaryBan(b) => Some(EngineEvent::LoggedOut {
            code: FailureCode::TemporaryBan,
            message: format!(
                "WhatsApp banned the number temporarily ({:?}, for {} s).",
                b.code,
                b.expire.num_seconds()
            ),
        }),
        Event::ClientOutdated(_) => Some(EngineEvent::LoggedOut {
            code: FailureCode::ClientOutdated,
            message: "WhatsApp refused the client version; set WAGATE_WA_VERSION to a current \
                      WhatsApp Web version."
                .into(),
        }),
        Event::PairingQrCodesExhausted(_) => Some(EngineEvent::LoggedOut {
            code: FailureCode::QrTimeout,
            message: "No phone linked the device in time.".into(),
        }),
        Event::IncomingCall(c) => call_of(c).map(EngineEvent::Call),
        Event::Presence(p) => Some(EngineEvent::Presence(ContactPresence {
            from: phone_for(client, &p.from).await?,
            state: ContactState::Online(if p.unavailable {
                Presence::Unavailable
            } else {
                Presence::Available
            }),
            last_seen: p
                .last_seen
                .map(|t| Timestamp::from_millis(t.timestamp_millis())),
        })),
        Event::GroupUpdate(u) => {
            let me = shared.phone().and_then(|p| PhoneNumber::parse(&p).ok());
            groups::notice_of(client, me.as_ref(), u)
                .await
                .map(EngineEvent::Group)
        }
        // A member typing in a group is not reported (wagate's chat states are a contact's).
        Event::ChatPresence(c) if !c.source.is_group => {
            let state = match (&c.state, &c.media) {
                (ChatPresence::Composing, ChatPresenceMedia::Audio) => ChatState::Recording,
                (ChatPresence::Composing, _) => ChatState::Composing,
                (ChatPresence::Paused, _) => ChatState::Paused,
            };
            Some(EngineEvent::Presence(ContactPresence {
                from: phone_for(client, &c.source.sender).await?,
                state: ContactState::InChat(state),
                last_seen: None,
            }))
        }
        Event::Receipt(r) => {
            let status = match r.r#type {
                ReceiptType::Delivered => MessageStatus::Delivered,
                ReceiptType::Read | ReceiptType::Played => MessageStatus::Read,
                _ => return None,
            };
            let at = Timestamp::from_millis(r.timestamp.timestamp_millis());
            // Several ids per receipt: all but the last are emitted here, in order.
            let (last, rest) = r.message_ids.split_last()?;
            for id in rest {
                let _ = shared
                    .sink
                    .emit(EngineEvent::Receipt {
                        external_id: id.to_string(),
                        status,
                        at,
                    })
                    .await;
            }
            Some(EngineEvent::Receipt {
                external_id: last.to_string(),
                status,
                at,
            })
        }
        Event::HistorySync(h) => {
            let since = shared.history.since(Timestamp::now())?;
            let synced = history::read(h.get()?, since);
            if !synced.contacts.is_empty() {
                let _ = shared
                    .sink
                    .emit(EngineEvent::Contacts(synced.contacts))
                    .await;
            }
            (!synced.messages.is_empty()).then_some(EngineEvent::History(synced.messages))
        }
        Event::PushNameUpdate(p) => {
            let name = p.new_push_name.clone();
            about_contact(client, &p.jid, |r| ContactReport {
                name: Some(name).filter(|n| !n.is_empty()),
                ..r
            })
            .await
        }
        Event::ContactUpdate(c) => {
            let name = c.action.full_name.clone().filter(|n| !n.is_empty())?;
            about_contact(client, &c.jid, |r| ContactReport {
                name: Some(name),
                ..r
            })
            .await
        }
        Event::UserAboutUpdate(u) => {
            let about = u.status.clone();
            about_contact(client, &u.jid, |r| ContactReport {
                about: Some(about),
                ..r
            })
            .await
        }
        Event::PictureUpdate(p) => {
            about_contact(client, &p.jid, |r| ContactReport {
                picture_changed: true,
                ..r
            })
            .await
        }
        // Messages reach wagate through the durability hook (committed before the ack); only
        // those that bypassed it arrive here.
        Event::Messages(batch) if !batch.hook_committed => {
            for m in batch.messages.iter() {
                match receive::event_of(shared, client, m).await {
                    Ok(Some(event)) => {
                        let _ = shared.sink.emit(event).await;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(instance = %shared.instance, error = %e, "a received message could not be recorded")
                    }
                }
            }
            None
        }
        _ => None,
    }
}
