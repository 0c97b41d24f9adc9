//! An instance's send queue: its queued messages and its queued changes (edits, deletes) of
//! messages sent before, in the order the API accepted them. Both kinds of id come from one
//! ordered generator, so their ULIDs order them together.

use wagate_core::change::QueuedChange;
use wagate_core::message::Message;

/// One item of the queue.
#[derive(Debug)]
pub enum Work {
    Send(Box<Message>),
    Change(QueuedChange),
}

impl Work {
    fn order(&self) -> &str {
        match self {
            Work::Send(m) => m.id.ulid_part(),
            Work::Change(c) => c.id.ulid_part(),
        }
    }
}

/// The heads of both queues (each read with `limit`) as one, in acceptance order. When a head
/// came back full, what sorts after its last item waits for the next pass: an item not read yet
/// could come before it.
pub fn in_order(messages: Vec<Message>, changes: Vec<QueuedChange>, limit: usize) -> Vec<Work> {
    let last_of_full = |n: usize, last: Option<String>| (n >= limit).then_some(last).flatten();
    let cut = [
        last_of_full(
            messages.len(),
            messages.last().map(|m| m.id.ulid_part().to_owned()),
        ),
        last_of_full(
            changes.len(),
            changes.last().map(|c| c.id.ulid_part().to_owned()),
        ),
    ]
    .into_iter()
    .flatten()
    .min();
    let mut all: Vec<Work> = messages
        .into_iter()
        .map(|m| Work::Send(Box::new(m)))
        .chain(changes.into_iter().map(Work::Change))
        .collect();
    all.sort_by(|a, b| a.order().cmp(b.order()));
    if let Some(cut) = cut {
        all.retain(|w| w.order() <= cut.as_str());
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use wagate_core::change::Change;
    use wagate_core::message::{Content, Direction, MessageStatus, Recipient};
    use wagate_core::{AccountId, ChatId, InstanceId, MessageId, Timestamp};

    fn message() -> Message {
        Message {
            id: MessageId::generate(),
            account_id: AccountId::generate(),
            instance_id: InstanceId::generate(),
            chat_id: ChatId::generate(),
            direction: Direction::Outbound,
            peer: Recipient::parse("5511999990001").unwrap(),
            peer_name: None,
            author: None,
            content: Content::Text("hi".into()),
            quoted_message_id: None,
            quoted_external_id: None,
            metadata: None,
            external_id: None,
            status: MessageStatus::Queued,
            error: None,
            created_at: Timestamp::now(),
            sent_at: None,
            delivered_at: None,
            read_at: None,
            edited_at: None,
            mentions: Vec::new(),
            reactions: Vec::new(),
            votes: Vec::new(),
        }
    }

    fn change(of: &Message) -> QueuedChange {
        QueuedChange::new(of, Change::Delete)
    }

    fn names(work: &[Work]) -> Vec<String> {
        work.iter()
            .map(|w| match w {
                Work::Send(m) => m.id.to_string(),
                Work::Change(c) => c.id.to_string(),
            })
            .collect()
    }

    #[test]
    fn messages_and_changes_go_in_the_order_they_were_accepted() {
        let a = message();
        let edit_a = change(&a);
        let b = message();
        let delete_b = change(&b);
        let work = in_order(
            vec![a.clone(), b.clone()],
            vec![edit_a.clone(), delete_b.clone()],
            10,
        );
        assert_eq!(
            names(&work),
            vec![
                a.id.to_string(),
                edit_a.id.to_string(),
                b.id.to_string(),
                delete_b.id.to_string()
            ]
        );
    }

    #[test]
    fn a_full_head_holds_back_what_sorts_after_it() {
        let a = message();
        let b = message();
        let later = change(&a);
        // Two messages read with a limit of two: a third may be queued before the change.
        let work = in_order(vec![a.clone(), b.clone()], vec![later], 2);
        assert_eq!(names(&work), vec![a.id.to_string(), b.id.to_string()]);
    }
}
