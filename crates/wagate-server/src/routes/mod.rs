//! Handlers, one file per resource.

pub mod account;
pub mod admin;
pub mod health;
pub mod instances;
pub mod views;
