//! Receiving an upload: the request body is streamed into a file in a directory created for this
//! request alone, hashed on the way, never held whole in memory. The body may not exceed the
//! size limit (checked on every chunk, whatever `Content-Length` claims) and each chunk must
//! arrive within the read timeout, so a slow client cannot hold a scan slot forever. The
//! directory is removed when the returned [`Upload`] is dropped, on every path (success, error,
//! a client that disconnects mid-upload).

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Body;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::hash::Algorithm;

/// A received upload.
pub struct Upload {
    /// Holds the directory; dropping it removes the directory and the file.
    pub dir: tempfile::TempDir,
    /// The file name inside `dir` (sanitised from the client's hint).
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

impl Upload {
    pub fn path(&self) -> PathBuf {
        self.dir.path().join(&self.name)
    }
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

/// Streams `body` into a new directory under `spool` as `name`.
pub async fn receive(
    body: Body,
    spool: &Path,
    name: String,
    limit: u64,
    read_timeout: Duration,
) -> Result<Upload, UploadError> {
    let dir = tempfile::Builder::new()
        .prefix("modelgate-upload-")
        .tempdir_in(spool)
        .map_err(UploadError::Spool)?;
    let mut file = tokio::fs::File::create(dir.path().join(&name))
        .await
        .map_err(UploadError::Spool)?;
    let mut hasher = Algorithm::Sha256.hasher();
    let mut size: u64 = 0;
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
        file.write_all(&chunk).await.map_err(UploadError::Spool)?;
    }
    // No fsync: the spool is scratch space the worker reads back through the page cache, and a
    // crash loses the request anyway.
    file.flush().await.map_err(UploadError::Spool)?;
    Ok(Upload {
        dir,
        name,
        size,
        sha256: hex::encode(hasher.finalize()),
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
