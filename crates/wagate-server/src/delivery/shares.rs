//! Each account's share of a node's delivery slots, so that one tenant's dead receiver cannot
//! hold them all.
//!
//! Before, the slots were filled in id order: an account with thousands of deliveries to a
//! receiver that never answers held every slot for the attempt timeout, again and again, and
//! other accounts' events waited behind them for minutes. Now an account holds at most `share`
//! slots: a claim takes of each account no more than its room, and takes the accounts in turn.
//! (A claim once took no more than the smallest room of any account, in id order: an account
//! whose dead receiver's breaker had opened finished its attempts at once and was always one
//! short of its share, so claims of one delivery went to its backlog and another account's
//! events waited seconds.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use wagate_core::AccountId;
use wagate_core::delivery::AccountRoom;

#[derive(Debug, Clone)]
pub struct Shares {
    share: usize,
    held: Arc<Mutex<HashMap<AccountId, usize>>>,
}

/// What the next claim may take: at most `limit` in all, and of each account its room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPlan {
    pub room: AccountRoom,
    pub limit: usize,
}

/// A slot held for one account's attempt; given back when dropped.
#[derive(Debug)]
pub struct Held {
    account: AccountId,
    held: Arc<Mutex<HashMap<AccountId, usize>>>,
}

impl Shares {
    pub fn new(share: usize) -> Self {
        Self {
            share: share.max(1),
            held: Arc::default(),
        }
    }

    /// The plan for a claim of up to `free` slots: every account may fill its share, the ones
    /// with attempts in flight what is left of it.
    pub fn plan(&self, free: usize) -> ClaimPlan {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let room = |n: usize| u32::try_from(self.share.saturating_sub(n)).unwrap_or(u32::MAX);
        ClaimPlan {
            room: AccountRoom {
                listed: held.iter().map(|(a, n)| (a.clone(), room(*n))).collect(),
                others: room(0),
            },
            limit: free,
        }
    }

    /// Counts a claimed attempt against its account until the guard is dropped.
    pub fn hold(&self, account: &AccountId) -> Held {
        *self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(account.clone())
            .or_default() += 1;
        Held {
            account: account.clone(),
            held: self.held.clone(),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.account) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.account);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_account_may_fill_what_is_left_of_its_share() {
        let shares = Shares::new(4);
        let (a, b) = (AccountId::generate(), AccountId::generate());
        let room_of = |plan: &ClaimPlan, who: &AccountId| {
            plan.room
                .listed
                .iter()
                .find(|(x, _)| x == who)
                .map_or(plan.room.others, |(_, n)| *n)
        };
        let plan = shares.plan(64);
        assert_eq!((plan.limit, plan.room.others), (64, 4));
        assert!(plan.room.listed.is_empty());
        let mut held: Vec<Held> = (0..3).map(|_| shares.hold(&a)).collect();
        let plan = shares.plan(64);
        assert_eq!(room_of(&plan, &a), 1);
        assert_eq!(room_of(&plan, &b), 4, "a's attempts do not shrink b's room");
        assert_eq!(plan.limit, 64);
        held.push(shares.hold(&a));
        assert_eq!(room_of(&shares.plan(64), &a), 0, "a is full");
        let _b = shares.hold(&b);
        let plan = shares.plan(2);
        assert_eq!((plan.limit, room_of(&plan, &b)), (2, 3));
        held.pop();
        assert_eq!(room_of(&shares.plan(64), &a), 1, "a has room again");
        drop(held);
        let plan = shares.plan(64);
        assert_eq!(plan.room.listed.len(), 1, "only b's one slot is still held");
    }
}
