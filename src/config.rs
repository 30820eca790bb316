//! The `modelgate.toml` configuration file, typed. Every key is declared here and an unknown one
//! is an error naming it: a misspelt `[policy] fail-on` silently ignored would leave a gate
//! running at a threshold nobody chose.
//!
//! ```toml
//! [allowlist]
//! sources = ["mirror/simple", "https://pypi.internal/simple/", "requirements.lock"]
//!
//! [policy]
//! fail_on = "medium"
//!
//! [policy.overrides]
//! "package/unpinned-requirement" = "info"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::finding::Severity;
use crate::policy::Policy;

/// A parsed `modelgate.toml`. Every section is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub allowlist: AllowlistConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
}

/// `[allowlist]`: where vetted Python packages are listed (see `packages::Allowlist::load`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowlistConfig {
    /// PEP 503 directories, index URLs, requirement and lock files, native allowlists. Relative
    /// paths are relative to the configuration file once loaded with [`Config::load`].
    #[serde(default)]
    pub sources: Vec<String>,
}

/// `[policy]`: the threshold and severity overrides per finding code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The threshold when the command line does not give `--fail-on`.
    pub fail_on: Option<Severity>,
    /// Finding code → the severity it is reported and judged at.
    #[serde(default)]
    pub overrides: BTreeMap<String, Severity>,
}

/// Why a configuration file could not be used. The cause is part of each message (not a
/// `source`), so a chain printer does not repeat it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Syntax errors, wrong types and unknown keys (the message names the key and its line).
    #[error("parsing {}: {error}", path.display())]
    Parse {
        path: PathBuf,
        error: toml::de::Error,
    },
    /// An override for a code no scanner reports would never apply: most likely a typo.
    #[error(
        "{}: [policy.overrides] names {code:?}, which is not a finding code (`modelgate explain` lists them)",
        path.display()
    )]
    UnknownCode { path: PathBuf, code: String },
}

impl Config {
    /// Reads, parses and checks `path`; relative allowlist paths become relative to its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        let mut config = Self::parse_at(&text, path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        for s in &mut config.allowlist.sources {
            if !s.contains("://") && !Path::new(s.as_str()).is_absolute() {
                *s = dir.join(&*s).display().to_string();
            }
        }
        Ok(config)
    }

    /// Parses and checks configuration text (paths are left as written).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        Self::parse_at(text, Path::new("modelgate.toml"))
    }

    /// [`Config::parse`], naming `path` in errors.
    fn parse_at(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|error| ConfigError::Parse {
            path: path.to_owned(),
            error,
        })?;
        if let Some(code) = config
            .policy
            .overrides
            .keys()
            .find(|c| crate::catalog::find(c).is_none())
        {
            return Err(ConfigError::UnknownCode {
                path: path.to_owned(),
                code: code.clone(),
            });
        }
        Ok(config)
    }

    /// The run policy: `fail_on` from the command line when given, else from `[policy]`, else
    /// the command's `default`; overrides from `[policy.overrides]`.
    pub fn policy(&self, fail_on: Option<Severity>, default: Severity) -> Policy {
        Policy {
            fail_on: fail_on.or(self.policy.fail_on).unwrap_or(default),
            overrides: self.policy.overrides.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_config_is_typed() {
        let c = Config::parse(
            r#"
[allowlist]
sources = ["mirror/simple", "https://pypi.internal/simple/"]

[policy]
fail_on = "medium"

[policy.overrides]
"package/unpinned-requirement" = "info"
"#,
        )
        .expect("valid");
        assert_eq!(c.allowlist.sources.len(), 2);
        assert_eq!(c.policy.fail_on, Some(Severity::Medium));
        let p = c.policy(None, Severity::Low);
        assert_eq!(p.fail_on, Severity::Medium);
        assert_eq!(
            p.overrides.get("package/unpinned-requirement"),
            Some(&Severity::Info)
        );
        // The command line wins over the file.
        assert_eq!(
            c.policy(Some(Severity::High), Severity::Low).fail_on,
            Severity::High
        );
        assert_eq!(Config::parse("").expect("empty"), Config::default());
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        for (text, key) in [
            ("[allowlist]\nsource = []\n", "source"),
            ("[policy]\nfail-on = \"low\"\n", "fail-on"),
            ("[polcy]\n", "polcy"),
        ] {
            let e = Config::parse(text).expect_err(text).to_string();
            assert!(e.contains(&format!("unknown field `{key}`")), "{e}");
        }
        let e = Config::parse("[policy.overrides]\n\"pickle/nope\" = \"info\"\n")
            .expect_err("unknown code")
            .to_string();
        assert!(e.contains("pickle/nope"), "{e}");
        let e = Config::parse("[policy]\nfail_on = \"severe\"\n")
            .expect_err("bad severity")
            .to_string();
        assert!(e.contains("severe"), "{e}");
    }

    #[test]
    fn relative_sources_are_relative_to_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("modelgate.toml");
        std::fs::write(
            &path,
            "[allowlist]\nsources = [\"mirror\", \"/abs\", \"https://x/simple/\"]\n",
        )
        .expect("write");
        let c = Config::load(&path).expect("load");
        assert_eq!(
            c.allowlist.sources,
            [
                dir.path().join("mirror").display().to_string(),
                "/abs".to_owned(),
                "https://x/simple/".to_owned()
            ]
        );
        let e = Config::load(&dir.path().join("missing.toml")).expect_err("missing");
        assert!(e.to_string().starts_with("reading "), "{e}");
    }
}
