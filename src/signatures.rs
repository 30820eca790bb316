//! The detection signature database: reviewable TOML data in `signatures/`, embedded at build time
//! and extendable with `--signatures DIR`.
//!
//! Every file shares one schema, so one loader, one digest and one listing serve every scanner:
//!
//! ```toml
//! [meta]
//! area = "pickle"                  # which scanner family reads these entries
//! description = "…"
//!
//! [[entry]]
//! kind = "pickle-global"           # the matcher namespace, e.g. pickle-global, keras-module, tf-op
//! module = "os"                    # what to match; "*" matches everything in that position
//! name = "*"
//! action = "deny"                  # deny | allow | tolerate
//! severity = "critical"            # for deny entries
//! category = "process"             # free-form grouping shown in reports
//! reason = "Runs shell commands."  # shown in findings; every entry must have one
//! ```
//!
//! User files are loaded after the embedded ones; scanners give later entries precedence, so a
//! user can allow what the defaults deny (or the reverse), and the report records the digest of
//! everything that was loaded.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::SetupError;
use crate::finding::Severity;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_signatures.rs"));
}

/// What an entry tells a scanner to do with a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Known to be dangerous: report with the entry's severity.
    Deny,
    /// Known to be needed by real model files and safe to load.
    Allow,
    /// Not needed for loading data but known to be inert (reported at info level by converters).
    Tolerate,
}

/// One signature entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub kind: String,
    #[serde(default)]
    pub module: String,
    #[serde(default)]
    pub name: String,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub category: String,
    pub reason: String,
    /// The file this entry came from (filled in by the loader).
    #[serde(default, skip_deserializing)]
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    meta: Meta,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    area: String,
    #[serde(default)]
    description: String,
}

/// Identification of the loaded database, recorded in every report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbInfo {
    pub version: String,
    /// sha256 over every loaded file (name and content, in load order).
    pub digest: String,
    pub files: Vec<String>,
    pub entries: usize,
}

/// The loaded signature database.
#[derive(Debug, Clone)]
pub struct SignatureDb {
    entries: Vec<Entry>,
    info: DbInfo,
}

impl SignatureDb {
    /// The database embedded in this build.
    pub fn embedded() -> Result<Self, SetupError> {
        Self::load(&[])
    }

    /// The embedded database plus every `*.toml` file in each of `extra_dirs` (sorted by name).
    pub fn load(extra_dirs: &[&Path]) -> Result<Self, SetupError> {
        let mut sources: Vec<(String, String)> = embedded::EMBEDDED
            .iter()
            .map(|(n, c)| ((*n).to_owned(), (*c).to_owned()))
            .collect();
        for dir in extra_dirs {
            let rd = std::fs::read_dir(dir).map_err(|source| SetupError::Read {
                path: dir.to_path_buf(),
                source,
            })?;
            let mut paths: Vec<_> = rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            paths.sort();
            for p in paths {
                let text = std::fs::read_to_string(&p).map_err(|source| SetupError::Read {
                    path: p.clone(),
                    source,
                })?;
                sources.push((p.display().to_string(), text));
            }
        }
        Self::from_sources(&sources)
    }

    /// Builds a database from `(name, toml text)` pairs, in precedence order (later wins).
    pub fn from_sources(sources: &[(String, String)]) -> Result<Self, SetupError> {
        let mut entries = Vec::new();
        let mut hasher = Sha256::new();
        let mut files = Vec::new();
        for (name, text) in sources {
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(text.as_bytes());
            hasher.update([0]);
            let file: File = toml::from_str(text).map_err(|e| SetupError::Signature {
                file: name.clone(),
                message: e.to_string(),
            })?;
            let _ = (&file.meta.area, &file.meta.description);
            for mut e in file.entry {
                if e.reason.trim().is_empty() {
                    return Err(SetupError::Signature {
                        file: name.clone(),
                        message: format!("entry {}:{} has no reason", e.module, e.name),
                    });
                }
                if e.action == Action::Deny && e.severity.is_none() {
                    return Err(SetupError::Signature {
                        file: name.clone(),
                        message: format!("deny entry {}:{} has no severity", e.module, e.name),
                    });
                }
                e.source.clone_from(name);
                entries.push(e);
            }
            files.push(name.clone());
        }
        let digest = hex::encode(hasher.finalize());
        let info = DbInfo {
            version: format!(
                "{}+{}",
                crate::VERSION,
                digest.get(..12).unwrap_or_default()
            ),
            digest,
            files,
            entries: entries.len(),
        };
        Ok(Self { entries, info })
    }

    /// All entries, in load order (later entries take precedence).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entries of one kind, in load order.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| e.kind == kind)
    }

    pub fn info(&self) -> &DbInfo {
        &self.info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_database_loads() {
        let db = SignatureDb::embedded().expect("embedded signatures parse");
        assert!(!db.info().digest.is_empty());
    }

    #[test]
    fn rejects_entries_without_reason() {
        let src = vec![(
            "x.toml".to_owned(),
            "[meta]\narea='t'\n[[entry]]\nkind='k'\nmodule='m'\nname='n'\naction='allow'\nreason=''\n"
                .to_owned(),
        )];
        assert!(SignatureDb::from_sources(&src).is_err());
    }
}
