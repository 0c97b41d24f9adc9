//! How the engine is configured: the WhatsApp Web version it announces (`WAGATE_WA_VERSION`),
//! and where it connects (WhatsApp itself, or a fake server in tests).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use thiserror::Error;
use wagate_core::history::HistoryWindow;
use whatsapp_rust::transport::TransportFactory;
use whatsapp_rust::wacore::net::HttpClient;

/// A WhatsApp Web version, e.g. `2.3000.1027000000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaVersion(pub u32, pub u32, pub u32);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("'{0}' is not a WhatsApp Web version like 2.3000.1027000000")]
pub struct VersionError(String);

impl FromStr for WaVersion {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || VersionError(s.to_owned());
        let parts: Vec<u32> = s
            .trim()
            .split('.')
            .map(|p| p.parse::<u32>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        match parts[..] {
            [a, b, c] => Ok(WaVersion(a, b, c)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for WaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// Where the client's bytes go: the socket transport and the HTTP client (media, version
/// lookup). Production uses the crate's WebSocket + ureq defaults; tests pass a fake server's.
pub trait Connector: Send + Sync + 'static {
    fn transport(&self) -> Arc<dyn TransportFactory>;
    fn http(&self) -> Arc<dyn HttpClient>;
}

/// Days of history a new link stores unless told otherwise: a week of chats, enough for the
/// conversations a team picks up, without importing years of a phone's traffic.
pub const DEFAULT_HISTORY_DAYS: u32 = 7;

#[derive(Clone)]
pub struct WaOptions {
    /// Pinned version; `None` asks web.whatsapp.com for the current one at connect.
    pub version: Option<WaVersion>,
    /// `None`: the real WhatsApp servers.
    pub connector: Option<Arc<dyn Connector>>,
    /// One-time prekeys kept on the server. WhatsApp Web keeps 812; fewer costs nothing on
    /// a gateway that talks to few new contacts per minute and keeps the database small.
    pub pre_key_count: usize,
    /// The OS name the phone shows under "Linked devices".
    pub device_name: String,
    /// Which of the phone's history a new link stores (`--wa-history-days`).
    pub history: HistoryWindow,
    /// Saved sessions a node reopens per second when it starts or takes instances over
    /// (`--resume-rate`; 0: all at once).
    pub resume_rate: u32,
}

/// Logins a second at start-up unless told otherwise: 10,000 linked numbers are back in under
/// three minutes, and WhatsApp never sees a burst of them.
pub const DEFAULT_RESUME_RATE: u32 = 64;

impl Default for WaOptions {
    fn default() -> Self {
        Self {
            version: None,
            connector: None,
            pre_key_count: 100,
            device_name: "wagate".into(),
            history: HistoryWindow::Days(DEFAULT_HISTORY_DAYS),
            resume_rate: DEFAULT_RESUME_RATE,
        }
    }
}

impl WaOptions {
    /// Test builds only (feature `test-fake-wa`, which only dev-dependencies enable): when
    /// `WAGATE_TEST_FAKE_WA_ADDR` names a fake WhatsApp server, the engine connects there over
    /// TCP, so tests can kill a real `wagate` process mid-conversation. A shipped build has no
    /// such code and ignores the variable.
    pub fn with_test_connector_from_env(self) -> Result<Self, String> {
        #[cfg(feature = "test-fake-wa")]
        if let Ok(addr) = std::env::var("WAGATE_TEST_FAKE_WA_ADDR") {
            let addr = addr
                .parse()
                .map_err(|e| format!("WAGATE_TEST_FAKE_WA_ADDR: {e}"))?;
            return Ok(Self {
                connector: Some(Arc::new(crate::fake::tcp::TcpConnector(addr))),
                ..self
            });
        }
        Ok(self)
    }
}

impl fmt::Debug for WaOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaOptions")
            .field("version", &self.version)
            .field("connector", &self.connector.as_ref().map(|_| "custom"))
            .field("pre_key_count", &self.pre_key_count)
            .field("history", &self.history)
            .field("resume_rate", &self.resume_rate)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_as_three_numbers() {
        assert_eq!(
            "2.3000.1027000000".parse::<WaVersion>(),
            Ok(WaVersion(2, 3000, 1027000000))
        );
        assert!("2.3000".parse::<WaVersion>().is_err());
        assert!("2.x.1".parse::<WaVersion>().is_err());
        assert_eq!(WaVersion(2, 3000, 1).to_string(), "2.3000.1");
    }
}
