//! Receiving an upload: the request body is hashed on the way and kept in memory while it is
//! small (at most `in_memory` bytes, `[server] memory_upload_bytes`, 1 MiB by default: sent to
//! the worker in the job itself, no file at all), else
//! streamed into a file in a directory created for this request alone, never held whole in
//! memory. (Creating and removing a directory and a file per request was a third of the gate's
//! CPU time on cached verdicts.) The body may not exceed the
//! size limit (checked on every chunk, whatever `Content-Length` claims) and each chunk must
//! arrive within the read timeout, so a slow client cannot hold a scan slot forever. The
//! directory is removed when the returned [`Upload`] is dropped, on every path (success, error,
//! a client that disconnects mid-upload).

use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::hash::Algorithm;

/// Uploads up to this size stay in memory unless configured otherwise.
pub const DEFAULT_MEMORY_LIMIT: u64 = 1 << 20;

/// A received upload.
pub struct Upload {
    /// The file name to scan it under (sanitised from the client's hint).
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub data: Data,
}

/// Where an upload's bytes are.
pub enum Data {
    Memory(Vec<u8>),
    /// In `dir`, as `name`; dropping the directory removes it and the file.
    Spooled(tempfile::TempDir),
}

impl Upload {
    /// The directory holding the upload as `name` (written now when it is in memory), for
    /// readers that need a file, such as signature verification.
    pub fn into_dir(self, spool: &Path) -> Result<tempfile::TempDir, UploadError> {
        match self.data {
            Data::Spooled(dir) => Ok(dir),
            Data::Memory(bytes) => {
                let dir = new_dir(spool)?;
                std::fs::write(dir.path().join(&self.name), bytes).map_err(UploadError::Spool)?;
                Ok(dir)
            }
        }
    }
}

fn new_dir(spool: &Path) -> Result<tempfile::TempDir, UploadError> {
    tempfile::Builder::new()
        .prefix("modelgate-upload-")
        .tempdir_in(spool)
        .map_err(UploadError::Spool)
}

/// Why an upload was not received.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("no data arrived for {0:?}")]
    Timeout(Duration),
    #[error("the upload was cut off: {0}")]
    Body(String),
    #[error("spooling the upload: {0}")]
    Spool(std::io::Error),
}

/// The file name to scan the upload under: the last path component of the client's hint,
/// without control characters, at most 200 bytes; `upload` when nothing usable is left. The name
/// matters to the scan (the extension is a tie-breaker and mismatches are reported), never to
/// where the file is written.
pub fn file_name(hint: Option<&str>) -> String {
    let last = hint
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let mut name: String = last.chars().filter(|c| !c.is_control()).collect();
    while name.len() > 200 {
        name.pop();
    }
    if name.is_empty() || name == "." || name == ".." {
        "upload".to_owned()
    } else {
        name
    }
}

/// Receives `body` as `name`: in memory up to `in_memory` bytes, else streamed into a new
/// directory under `spool`.
pub async fn receive(
    body: Body,
    spool: &Path,
    name: String,
    limit: u64,
    in_memory: u64,
    read_timeout: Duration,
) -> Result<Upload, UploadError> {
    let in_memory = usize::try_from(in_memory).unwrap_or(usize::MAX);
    let mut hasher = Algorithm::Sha256.hasher();
    let mut size: u64 = 0;
    let mut memory: Vec<u8> = Vec::new();
    let mut spooled: Option<(tempfile::TempDir, tokio::fs::File)> = None;
    let mut stream = body.into_data_stream();
    loop {
        let next = tokio::time::timeout(read_timeout, stream.next())
            .await
            .map_err(|_| UploadError::Timeout(read_timeout))?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| UploadError::Body(e.to_string()))?;
        size = size.saturating_add(chunk.len() as u64);
        if size > limit {
            return Err(UploadError::TooLarge { limit });
        }
        hasher.update(&chunk);
        if spooled.is_none() && memory.len().saturating_add(chunk.len()) > in_memory {
            let dir = new_dir(spool)?;
            let mut file = tokio::fs::File::create(dir.path().join(&name))
                .await
                .map_err(UploadError::Spool)?;
            file.write_all(&memory).await.map_err(UploadError::Spool)?;
            memory = Vec::new();
            spooled = Some((dir, file));
        }
        match &mut spooled {
            Some((_, file)) => file.write_all(&chunk).await.map_err(UploadError::Spool)?,
            None => memory.extend_from_slice(&chunk),
        }
    }
    let data = match spooled {
        Some((dir, mut file)) => {
            // No fsync: the spool is scratch space the worker reads back through the page
            // cache, and a crash loses the request anyway.
            file.flush().await.map_err(UploadError::Spool)?;
            Data::Spooled(dir)
        }
        None => Data::Memory(memory),
    };
    Ok(Upload {
        name,
        size,
        sha256: hex::encode(hasher.finalize()),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_become_one_harmless_component() {
        assert_eq!(file_name(Some("model.pkl")), "model.pkl");
        assert_eq!(file_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(file_name(Some("C:\\\\x\\\\w.pt")), "w.pt");
        assert_eq!(file_name(Some("a\u{0}b\nc")), "abc");
        assert_eq!(file_name(Some("..")), "upload");
        assert_eq!(file_name(Some("dir/")), "upload");
        assert_eq!(file_name(None), "upload");
        assert_eq!(file_name(Some(&"é".repeat(300))).len(), 200);
    }
}
