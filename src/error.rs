//! Typed errors. Per-artifact problems are [`ScanError`]s that become report entries and never stop
//! a run; [`SetupError`]s are problems with the invocation itself (bad signature files, unreadable
//! targets given on the command line) and abort before scanning.

use std::path::PathBuf;

/// A failure to scan one artifact. The engine records it against the artifact and keeps going.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed {format}: {message}")]
    Malformed {
        format: &'static str,
        message: String,
    },
    #[error("budget exceeded: {0}")]
    Budget(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl ScanError {
    pub fn malformed(format: &'static str, message: impl Into<String>) -> Self {
        Self::Malformed {
            format,
            message: message.into(),
        }
    }
}

/// A problem with the configuration of a run, reported before any scanning starts.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("signature file {file}: {message}")]
    Signature { file: String, message: String },
    #[error("target does not exist: {0}")]
    MissingTarget(PathBuf),
    #[error("{0}")]
    Invalid(String),
}
