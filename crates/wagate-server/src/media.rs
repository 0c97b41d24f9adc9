//! Inbound media kept for the account to download (`GET /v1/media/{mediaId}`): files in
//! `<data dir>/media/<account id>/<media id>` with a `<media id>.json` beside each. Files, not
//! database rows, because media runs to 100 MB; a multi-node deployment needs the data
//! directory on shared storage for these links to work on every node.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use wagate_core::engine::{MediaBlob, MediaVault, MediaVaultError};
use wagate_core::store::Store;
use wagate_core::{AccountId, InstanceId, MediaId, Timestamp};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaMeta {
    pub mime_type: Option<String>,
    pub filename: Option<String>,
    pub instance_id: String,
}

pub struct FileVault {
    dir: PathBuf,
    store: Arc<dyn Store>,
    base_url: String,
}

impl FileVault {
    pub fn new(dir: PathBuf, store: Arc<dyn Store>, base_url: String) -> Self {
        Self {
            dir,
            store,
            base_url,
        }
    }
}

/// Where an account's media lives. Both ids are parsed (prefix + ULID), so the path cannot
/// leave the directory.
fn path_of(dir: &Path, account: &AccountId, id: &MediaId) -> PathBuf {
    dir.join(account.as_str()).join(id.as_str())
}

#[async_trait]
impl MediaVault for FileVault {
    async fn keep(
        &self,
        instance: &InstanceId,
        blob: MediaBlob,
    ) -> Result<String, MediaVaultError> {
        let err = |e: &dyn std::fmt::Display| MediaVaultError(e.to_string());
        let inst = self
            .store
            .find_instance(instance)
            .await
            .map_err(|e| err(&e))?
            .ok_or_else(|| MediaVaultError("the instance was deleted".into()))?;
        let id = MediaId::generate();
        let path = path_of(&self.dir, &inst.account_id, &id);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| err(&e))?;
        }
        let meta = MediaMeta {
            mime_type: blob.mime_type,
            filename: blob.filename,
            instance_id: instance.to_string(),
        };
        // The bytes first: a reader needs the metadata file, so it never sees half a file.
        tokio::fs::write(&path, &blob.bytes)
            .await
            .map_err(|e| err(&e))?;
        let meta_json = serde_json::to_vec(&meta).map_err(|e| err(&e))?;
        tokio::fs::write(path.with_extension("json"), meta_json)
            .await
            .map_err(|e| err(&e))?;
        Ok(format!("{}/v1/media/{}", self.base_url, id))
    }
}

/// The media `id` of `account`, if it has one by that id.
pub async fn read(
    dir: &Path,
    account: &AccountId,
    id: &MediaId,
) -> std::io::Result<Option<(MediaMeta, Vec<u8>)>> {
    let path = path_of(dir, account, id);
    let meta = match tokio::fs::read(path.with_extension("json")).await {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta: MediaMeta = serde_json::from_slice(&meta).map_err(std::io::Error::other)?;
    let bytes = tokio::fs::read(&path).await?;
    Ok(Some((meta, bytes)))
}

/// Deletes up to `batch` media files (each with its metadata) made before `before`: the time is
/// the one in the media id (a ULID), so no file is opened to decide. Returns how many went.
pub async fn prune(dir: &Path, before: Timestamp, batch: usize) -> std::io::Result<u64> {
    let mut deleted = 0u64;
    let mut accounts = match tokio::fs::read_dir(dir).await {
        Ok(a) => a,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    while let Some(account) = accounts.next_entry().await? {
        if !account.file_type().await?.is_dir() {
            continue;
        }
        let mut files = tokio::fs::read_dir(account.path()).await?;
        while let Some(file) = files.next_entry().await? {
            if deleted >= batch as u64 {
                return Ok(deleted);
            }
            // The metadata file goes with its media file, never alone.
            let Ok(id) = MediaId::parse(&file.file_name().to_string_lossy()) else {
                continue;
            };
            if id.made_at() >= before {
                continue;
            }
            let path = file.path();
            tokio::fs::remove_file(path.with_extension("json"))
                .await
                .or_else(ignore_missing)?;
            tokio::fs::remove_file(&path)
                .await
                .or_else(ignore_missing)?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

fn ignore_missing(e: std::io::Error) -> std::io::Result<()> {
    match e.kind() {
        std::io::ErrorKind::NotFound => Ok(()),
        _ => Err(e),
    }
}
