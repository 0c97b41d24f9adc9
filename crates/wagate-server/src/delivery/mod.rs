//! Webhook delivery: the worker that takes due deliveries from the outbox and the signed
//! request each attempt makes.

pub mod attempt;
pub mod breaker;
pub mod runs;
pub mod shares;
pub mod worker;

pub use attempt::{Attempt, post_signed};
pub use worker::{Delivered, DeliveryWorker};
