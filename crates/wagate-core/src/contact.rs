//! What the network says about a contact (§5.4): reported by the engine as it learns it (a push
//! name, an about text changed, the names the phone synced) or fetched on demand, and cached in
//! the contact's row.

use crate::phone::PhoneNumber;

/// One thing learnt about one contact. A `None` field leaves the stored value as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactReport {
    pub phone: PhoneNumber,
    pub name: Option<String>,
    pub about: Option<String>,
    /// The contact changed their picture: the cached URL is stale and is fetched again.
    pub picture_changed: bool,
}

impl ContactReport {
    /// A report that says nothing yet about `phone`.
    pub fn of(phone: PhoneNumber) -> Self {
        Self {
            phone,
            name: None,
            about: None,
            picture_changed: false,
        }
    }

    pub fn named(phone: PhoneNumber, name: String) -> Self {
        Self {
            name: Some(name),
            ..Self::of(phone)
        }
    }
}

/// A contact's profile as the network answered it when asked: all of it, so a field that is
/// `None` here is gone (the picture was removed, the about text cleared).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchedProfile {
    pub about: Option<String>,
    pub profile_pic_url: Option<String>,
    pub is_business: bool,
    pub is_blocked: bool,
}
