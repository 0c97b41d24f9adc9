//! Each account's share of a node's delivery slots, so that one tenant's dead receiver cannot
//! hold them all.
//!
//! Before, the slots were filled in id order: an account with thousands of deliveries to a
//! receiver that never answers held every slot for the attempt timeout, again and again, and
//! other accounts' events waited behind them for minutes. Now an account holds at most `share`
//! slots; a claim leaves out the accounts at their share and takes no more than any other
//! account has room for, so no claim can push one over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use wagate_core::AccountId;

#[derive(Debug, Clone)]
pub struct Shares {
    share: usize,
    held: Arc<Mutex<HashMap<AccountId, usize>>>,
}

/// What the next claim may take: none of `skip`, and at most `limit` in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPlan {
    pub skip: Vec<AccountId>,
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

    /// The plan for a claim of up to `free` slots.
    pub fn plan(&self, free: usize) -> ClaimPlan {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let skip = held
            .iter()
            .filter(|(_, n)| **n >= self.share)
            .map(|(a, _)| a.clone())
            .collect();
        // The account with the least room left that may still be claimed for (an account with
        // nothing in flight has the whole share).
        let room = held
            .values()
            .filter(|n| **n < self.share)
            .map(|n| self.share - n)
            .min()
            .unwrap_or(self.share);
        ClaimPlan {
            skip,
            limit: free.min(room),
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
    fn no_claim_pushes_an_account_over_its_share() {
        let shares = Shares::new(4);
        let (a, b) = (AccountId::generate(), AccountId::generate());
        assert_eq!(
            shares.plan(64),
            ClaimPlan {
                skip: vec![],
                limit: 4
            }
        );
        let mut held: Vec<Held> = (0..3).map(|_| shares.hold(&a)).collect();
        assert_eq!(
            shares.plan(64),
            ClaimPlan {
                skip: vec![],
                limit: 1
            }
        );
        held.push(shares.hold(&a));
        assert_eq!(
            shares.plan(64),
            ClaimPlan {
                skip: vec![a.clone()],
                limit: 4
            },
            "a is full; anyone else may take a whole share"
        );
        let _b = shares.hold(&b);
        assert_eq!(
            shares.plan(2),
            ClaimPlan {
                skip: vec![a.clone()],
                limit: 2
            }
        );
        held.pop();
        assert_eq!(
            shares.plan(64).skip,
            Vec::<AccountId>::new(),
            "a has room again"
        );
        drop(held);
        assert_eq!(shares.plan(64).limit, 3, "only b's one slot is still held");
    }
}
