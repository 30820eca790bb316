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

use std::borrow::Cow;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::SetupError;
use crate::finding::Severity;

/// An embedded entry as unpacked by build.rs: (kind, module, name, action, severity or "",
/// category, reason).
type RawEntry = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

mod embedded {
    use super::RawEntry;
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
    pub kind: Cow<'static, str>,
    #[serde(default)]
    pub module: Cow<'static, str>,
    #[serde(default)]
    pub name: Cow<'static, str>,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "str::is_empty")]
    pub category: Cow<'static, str>,
    pub reason: Cow<'static, str>,
    /// The file this entry came from (filled in by the loader).
    #[serde(default, skip_deserializing)]
    pub source: Cow<'static, str>,
}

impl Entry {
    /// An embedded entry (strings borrowed from the binary, no allocation).
    fn from_raw(raw: &RawEntry, source: &'static str) -> Result<Self, SetupError> {
        let (kind, module, name, action, severity, category, reason) = *raw;
        let bad = |m: String| SetupError::Signature {
            file: source.to_owned(),
            message: m,
        };
        let action = match action {
            "deny" => Action::Deny,
            "allow" => Action::Allow,
            "tolerate" => Action::Tolerate,
            other => return Err(bad(format!("unknown action {other:?}"))),
        };
        let severity = match severity {
            "" => None,
            "info" => Some(Severity::Info),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            s => return Err(bad(format!("unknown severity {s:?}"))),
        };
        Ok(Self {
            kind: Cow::Borrowed(kind),
            module: Cow::Borrowed(module),
            name: Cow::Borrowed(name),
            action,
            severity,
            category: Cow::Borrowed(category),
            reason: Cow::Borrowed(reason),
            source: Cow::Borrowed(source),
        })
    }
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

/// One signature file: embedded (entries unpacked and text hashed by build.rs) or a user's TOML.
struct Source {
    name: Cow<'static, str>,
    body: Body,
}

/// What a source holds: entries unpacked at build time, or TOML text read at run time.
enum Body {
    Embedded {
        text_sha256: &'static str,
        entries: &'static [RawEntry],
    },
    Toml(String),
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
        Self::load_with(extra_dirs, Vec::new())
    }

    /// Like [`SignatureDb::load`], with extra `(name, toml text)` sources appended last (e.g. a
    /// translated modelscan settings file).
    pub fn load_with(
        extra_dirs: &[&Path],
        extra: Vec<(String, String)>,
    ) -> Result<Self, SetupError> {
        let mut sources: Vec<Source> = embedded::EMBEDDED
            .iter()
            .map(|&(name, text_sha256, entries)| Source {
                name: Cow::Borrowed(name),
                body: Body::Embedded {
                    text_sha256,
                    entries,
                },
            })
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
                sources.push(Source {
                    name: Cow::Owned(p.display().to_string()),
                    body: Body::Toml(text),
                });
            }
        }
        sources.extend(extra.into_iter().map(|(name, text)| Source {
            name: Cow::Owned(name),
            body: Body::Toml(text),
        }));
        Self::build(&sources)
    }

    /// Builds a database from `(name, toml text)` pairs, in precedence order (later wins).
    pub fn from_sources(sources: &[(String, String)]) -> Result<Self, SetupError> {
        let sources: Vec<Source> = sources
            .iter()
            .map(|(name, text)| Source {
                name: Cow::Owned(name.clone()),
                body: Body::Toml(text.clone()),
            })
            .collect();
        Self::build(&sources)
    }

    fn build(sources: &[Source]) -> Result<Self, SetupError> {
        let mut entries = Vec::new();
        let mut hasher = Sha256::new();
        let mut files = Vec::new();
        for Source { name, body } in sources {
            // The digest covers every file's name and the sha256 of its TOML text (the reviewed
            // source of truth); embedded files' text digests are computed at build time.
            let (text_sha256, file_entries) = match body {
                Body::Embedded {
                    text_sha256,
                    entries,
                } => {
                    let Cow::Borrowed(static_name) = name else {
                        unreachable!("embedded sources have static names")
                    };
                    let parsed: Result<Vec<Entry>, SetupError> = entries
                        .iter()
                        .map(|raw| Entry::from_raw(raw, static_name))
                        .collect();
                    (Cow::Borrowed(*text_sha256), parsed?)
                }
                Body::Toml(text) => {
                    let file = toml::from_str::<File>(text).map_err(|e| SetupError::Signature {
                        file: name.to_string(),
                        message: e.to_string(),
                    })?;
                    let _ = (&file.meta.area, &file.meta.description);
                    (
                        Cow::Owned(hex::encode(Sha256::digest(text.as_bytes()))),
                        file.entry,
                    )
                }
            };
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(text_sha256.as_bytes());
            hasher.update([0]);
            for mut e in file_entries {
                if e.reason.trim().is_empty() {
                    return Err(SetupError::Signature {
                        file: name.to_string(),
                        message: format!("entry {}:{} has no reason", e.module, e.name),
                    });
                }
                if e.action == Action::Deny && e.severity.is_none() {
                    return Err(SetupError::Signature {
                        file: name.to_string(),
                        message: format!("deny entry {}:{} has no severity", e.module, e.name),
                    });
                }
                e.source.clone_from(name);
                entries.push(e);
            }
            files.push(name.to_string());
        }
        let digest = hex::encode(hasher.finalize());
        let info = DbInfo {
            version: format!(
                "{}+{}",
                crate::finding::VERSION,
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

/// Translates a modelscan settings file's `[unsafe_globals.<SEVERITY>]` tables into signature
/// entries (TOML in this module's schema), so `modelgate modelscan --settings-file` honours them.
///
/// Entries are only ever added as `deny`: a settings file can make the scan stricter, never
/// weaker. That keeps modelscan's habit of loading `./modelscan-settings.toml` from the working
/// directory harmless — an untrusted checkout cannot switch detection off.
pub fn from_modelscan_settings(text: &str) -> Result<String, SetupError> {
    let bad = |m: String| SetupError::Signature {
        file: "modelscan settings".into(),
        message: m,
    };
    let doc: toml::Table = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
    let mut out = String::from(
        "[meta]\narea = \"modelscan-settings\"\ndescription = \"unsafe_globals from a modelscan settings file\"\n",
    );
    let Some(globals) = doc.get("unsafe_globals").and_then(toml::Value::as_table) else {
        return Ok(out);
    };
    for (sev_name, modules) in globals {
        let sev =
            Severity::parse(sev_name).ok_or_else(|| bad(format!("unknown severity {sev_name}")))?;
        let Some(modules) = modules.as_table() else {
            return Err(bad(format!("unsafe_globals.{sev_name} must be a table")));
        };
        for (module, names) in modules {
            let names: Vec<String> = match names {
                toml::Value::String(s) => vec![s.clone()],
                toml::Value::Array(a) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => {
                    return Err(bad(format!(
                        "unsafe_globals.{sev_name}.{module} must be a string or a list"
                    )))
                }
            };
            for name in names {
                let entry = toml::toml! {
                    kind = "pickle-global"
                    action = "deny"
                };
                let mut entry = entry;
                entry.insert("module".into(), toml::Value::String(module.clone()));
                entry.insert("name".into(), toml::Value::String(name.clone()));
                entry.insert("severity".into(), toml::Value::String(sev.as_str().into()));
                entry.insert(
                    "category".into(),
                    toml::Value::String("modelscan-settings".into()),
                );
                entry.insert(
                    "reason".into(),
                    toml::Value::String(format!(
                        "Listed as {sev_name} in the modelscan settings file."
                    )),
                );
                out.push_str("\n[[entry]]\n");
                out.push_str(&toml::to_string(&entry).map_err(|e| bad(e.to_string()))?);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod modelscan_settings_tests {
    use super::*;

    #[test]
    fn unsafe_globals_become_deny_entries() {
        let text = r#"
modelscan_version = "0.8.8"
[unsafe_globals.CRITICAL]
"__builtin__" = ["eval", "exec"]
os = "*"
[unsafe_globals.HIGH]
"requests.api" = "*"
"#;
        let toml_text = from_modelscan_settings(text).expect("converts");
        let db = SignatureDb::from_sources(&[("ms.toml".into(), toml_text)]).expect("parses");
        let e: Vec<_> = db.of_kind("pickle-global").collect();
        assert_eq!(e.len(), 4);
        assert!(e.iter().all(|e| e.action == Action::Deny));
        assert!(e
            .iter()
            .any(|e| e.module == "requests.api" && e.severity == Some(Severity::High)));
    }

    #[test]
    fn rejects_unknown_severity() {
        assert!(from_modelscan_settings("[unsafe_globals.SEVERE]\nos = \"*\"\n").is_err());
    }
}
