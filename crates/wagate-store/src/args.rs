//! SQL arguments kept as values, for statements built at run time whose arguments are bound
//! more than once (`AnyArguments` cannot be cloned, so each statement builds its own).

use sqlx::Arguments;
use sqlx::any::AnyArguments;
use wagate_core::store::StoreError;

use crate::error::corrupt;

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    OptText(Option<String>),
    Int(i64),
}

/// The arguments of one statement, in order (`$1`, `$2`, …).
pub(crate) fn arguments(args: &[Arg]) -> Result<AnyArguments, StoreError> {
    let mut out = AnyArguments::default();
    for arg in args {
        match arg {
            Arg::Text(s) => out.add(s.clone()),
            Arg::OptText(s) => out.add(s.clone()),
            Arg::Int(n) => out.add(*n),
        }
        .map_err(corrupt)?;
    }
    Ok(out)
}

/// `$first, $first+1, …`: the placeholders of `n` arguments bound from position `first` on
/// (an `IN (…)` list).
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<Option<String>> for Arg {
    fn from(s: Option<String>) -> Self {
        Self::OptText(s)
    }
}

impl From<i64> for Arg {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}
