//! A claim's deliveries as runs: the first attempts of one lane (one instance's events to one
//! target), in order, are attempted one after another by one task, so the lane's order holds
//! while the next event goes out as soon as the previous one is answered, not a claim later.
//! A retry holds no lane up and is a run of its own.

use wagate_core::InstanceId;
use wagate_core::delivery::{DueDelivery, Target};

/// How many of a lane's first attempts one claim takes together.
pub const RUN_LENGTH: u32 = 64;

/// `claimed` (in id order, as the store answers) as runs, each in id order; the runs in the
/// order of their first delivery.
pub fn runs(claimed: Vec<DueDelivery>) -> Vec<Vec<DueDelivery>> {
    let mut runs: Vec<Vec<DueDelivery>> = Vec::new();
    let mut lanes: Vec<(InstanceId, Target, usize)> = Vec::new();
    for d in claimed {
        if d.attempts > 0 {
            runs.push(vec![d]);
            continue;
        }
        let lane = lanes
            .iter()
            .find(|(i, t, _)| *i == d.instance_id && *t == d.target)
            .map(|(_, _, run)| *run);
        match lane {
            Some(run) => runs[run].push(d),
            None => {
                lanes.push((d.instance_id.clone(), d.target.clone(), runs.len()));
                runs.push(vec![d]);
            }
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use wagate_core::webhook::WebhookSecret;
    use wagate_core::webhook_event::WebhookEvent;
    use wagate_core::{AccountId, DeliveryId, EventId, WebhookId};

    use super::*;

    fn due(id: &str, instance: &str, webhook: Option<&str>, attempts: u32) -> DueDelivery {
        DueDelivery {
            id: DeliveryId::from_trusted(id.to_owned()),
            claim: "node:1".into(),
            event_id: EventId::from_trusted(format!("evt_{id}")),
            event: WebhookEvent::MessageReceived,
            instance_id: InstanceId::from_trusted(instance.to_owned()),
            account_id: AccountId::from_trusted("acc_1".to_owned()),
            target: webhook.map_or(Target::Instance, |w| {
                Target::Subscription(WebhookId::from_trusted(w.to_owned()))
            }),
            url: None,
            secret: WebhookSecret::from_trusted(String::new()),
            body: String::new(),
            sequence: None,
            attempts,
        }
    }

    fn ids(runs: &[Vec<DueDelivery>]) -> Vec<Vec<&str>> {
        runs.iter()
            .map(|r| r.iter().map(|d| d.id.as_str()).collect())
            .collect()
    }

    #[test]
    fn a_lanes_first_attempts_form_one_run_and_retries_stand_alone() {
        let claimed = vec![
            due("1", "a", None, 0),
            due("2", "a", Some("w"), 0),
            due("3", "b", None, 0),
            due("4", "a", None, 0),
            due("5", "a", None, 2),
            due("6", "a", Some("w"), 0),
            due("7", "a", None, 0),
        ];
        assert_eq!(
            ids(&runs(claimed)),
            vec![vec!["1", "4", "7"], vec!["2", "6"], vec!["3"], vec!["5"]]
        );
        assert!(runs(Vec::new()).is_empty());
    }
}
