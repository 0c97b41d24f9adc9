//! SQLite is one node by nature (§19): `serve` holds an exclusive lock on a file beside the
//! database for as long as it runs, so a second `serve` on the same file refuses to start
//! instead of resuming every instance a second time. The operating system drops the lock when
//! the process ends, however it ends (a `SIGKILL` included), so a crashed node never blocks its
//! own restart.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another wagate serve is already using the SQLite database {0}: SQLite serves one node; use PostgreSQL to run several"
    )]
    InUse(PathBuf),
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The lock, held until dropped.
#[derive(Debug)]
pub struct SqliteLock {
    _file: File,
}

impl SqliteLock {
    /// Locks the database of a `sqlite:` URL; `None` for any other database, and for an
    /// in-memory SQLite database (nothing else can open it).
    pub fn acquire(database_url: &str) -> Result<Option<Self>, LockError> {
        let Some(db) = sqlite_path(database_url) else {
            return Ok(None);
        };
        let path = lock_path(&db);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(TryLockError::WouldBlock) => Err(LockError::InUse(db)),
            Err(TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

/// The file of a `sqlite:` URL (`sqlite://path?mode=rwc`, `sqlite:path`).
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_sits_beside_the_database() {
        assert_eq!(
            sqlite_path("sqlite:///tmp/a/wagate.db?mode=rwc"),
            Some(PathBuf::from("/tmp/a/wagate.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:data/w.db"),
            Some(PathBuf::from("data/w.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://root@localhost/test"), None);
        assert_eq!(
            lock_path(Path::new("/tmp/w.db")),
            PathBuf::from("/tmp/w.db.lock")
        );
    }

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
        let first = SqliteLock::acquire(&url).unwrap().expect("a lock");
        assert!(matches!(
            SqliteLock::acquire(&url),
            Err(LockError::InUse(p)) if p == dir.path().join("w.db")
        ));
        drop(first);
        assert!(SqliteLock::acquire(&url).unwrap().is_some());
    }
}
