//! The namespaces of whatsapp-rust's state in `wa_kv.ns`. The numbers are persisted: never
//! renumber, only add.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i32)]
pub enum Ns {
    Device = 1,
    Identity = 2,
    Session = 3,
    PreKey = 4,
    SignedPreKey = 5,
    SenderKey = 6,
    SyncKey = 7,
    SyncKeyLatest = 8,
    AppStateVersion = 9,
    MutationMac = 10,
    SenderKeyDevice = 11,
    LidToEntry = 12,
    PnToLid = 13,
    BaseKey = 14,
    DeviceList = 15,
    GroupMeta = 16,
    TcToken = 17,
    SentMessage = 18,
    PendingInbound = 19,
    MsgSecret = 20,
    /// wagate's: the secret and options of each poll the instance sent (to decrypt votes).
    OurPoll = 21,
}
