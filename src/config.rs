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
    /// `[server]`: `modelgate serve`.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[[tokens]]`: who may call the gate, by the SHA-256 of their bearer token.
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// `[store]`: where the gate keeps its audit trail and verdict cache.
    #[serde(default)]
    pub store: StoreConfig,
    /// `[[registries]]`: the only registries the gate pulls images from, with their credentials.
    #[serde(default)]
    pub registries: Vec<RegistryConfig>,
    /// `[signing]`: the public keys `POST /v1/verify` trusts.
    #[serde(default)]
    pub signing: SigningConfig,
    /// `[harbor]`: the Harbor pluggable scanner adapter (`/api/v1`).
    #[serde(default)]
    pub harbor: HarborConfig,
    /// `[kubernetes]`: the validating admission webhook (`/k8s/validate`).
    #[serde(default)]
    pub kubernetes: KubernetesConfig,
    /// `[mlflow]`: the MLflow model registry integration.
    #[serde(default)]
    pub mlflow: MlflowConfig,
}

/// `[harbor]`: `modelgate serve` as a Harbor pluggable scanner (see `server::integrations::harbor`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HarborConfig {
    #[serde(default)]
    pub enabled: bool,
    /// The adapter's own deadline for one scan (default 900 s): Harbor keeps polling while it
    /// gets 302, so past this the report answers 500 (a failed scan).
    pub deadline_secs: Option<u64>,
    /// `Refresh-After` sent with 302 (default 5; Harbor reads at most 127).
    pub refresh_after_secs: Option<u8>,
    /// Scan jobs kept at once, pending and finished (default 1024); beyond it `POST /scan` gets
    /// 503 until finished jobs expire.
    pub max_jobs: Option<usize>,
    /// How long a finished job's report stays available (default 3600 s).
    pub keep_reports_secs: Option<u64>,
}

/// `[kubernetes]`: the validating admission webhook (see `server::integrations::kubernetes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    #[serde(default)]
    pub enabled: bool,
    /// What every image digest needs to be admitted (default `signature-and-verdict`).
    pub require: Option<AdmissionRequirement>,
}

/// What the admission webhook requires of each image digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AdmissionRequirement {
    /// A valid signature referrer from a `[signing] trusted_keys` key.
    Signature,
    /// An `admit` verdict for the digest in the store (a scan under the current rules).
    Verdict,
    /// Both.
    #[default]
    SignatureAndVerdict,
    /// Either.
    SignatureOrVerdict,
}

/// `[mlflow]`: scan model versions registered in MLflow (webhook, reconcile loop, `modelgate
/// mlflow sync`) and write the verdict back as tags. The webhook secret comes from the
/// environment variable `secret_env` names, never from the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlflowConfig {
    /// Serve `POST /integrations/mlflow/webhook` (and the reconcile loop when configured).
    #[serde(default)]
    pub enabled: bool,
    /// The tracking server (`http://HOST:PORT[/prefix]`); required when enabled.
    pub tracking_uri: Option<String>,
    /// The environment variable holding the webhook's shared secret; required when enabled.
    pub secret_env: Option<String>,
    /// How far a delivery's signed timestamp may be from the gate's clock (default 300 s).
    pub timestamp_tolerance_secs: Option<u64>,
    /// Scan versions without a `modelgate.verdict` tag every this many seconds (default: off).
    pub reconcile_secs: Option<u64>,
    /// Give a failed version the alias `quarantined` and remove its other aliases.
    #[serde(default)]
    pub block_stage_transition: bool,
    /// Local artifact stores (`file:` sources) the gate may read; relative to the configuration
    /// file. Sources elsewhere on disk are refused.
    #[serde(default)]
    pub local_roots: Vec<PathBuf>,
    /// Most files one version may hold (default 10,000); its bytes are bounded by `[server]
    /// max_body_bytes`.
    pub max_files: Option<usize>,
    /// Deadline of one MLflow API call (default 30 s).
    pub request_timeout_secs: Option<u64>,
}

/// `[signing]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningConfig {
    /// PEM public keys (`modelgate keygen` writes them); relative to the configuration file.
    #[serde(default)]
    pub trusted_keys: Vec<PathBuf>,
}

/// `[[registries]]`: a registry the gate may pull from (`{"oci": …}` scan requests naming any
/// other registry get 403). Secrets come from the server's environment, never from the file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// `host[:port]` as it appears in image references (`docker.io` for Docker Hub).
    pub host: String,
    /// Reach it over plain HTTP (loopback registries always may).
    #[serde(default)]
    pub insecure: bool,
    pub username: Option<String>,
    /// The environment variable holding the password for `username`.
    pub password_env: Option<String>,
    /// The environment variable holding a bearer token used as is.
    pub token_env: Option<String>,
}

/// `[server]`: listening address, TLS and the limits every request is held to. Each key has a
/// default ([`ServerConfig::listen`] and friends give the effective values).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port (default `127.0.0.1:8080`).
    pub listen: Option<String>,
    /// PEM certificate chain and private key: both set means HTTPS (rustls).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Largest upload accepted (default 8 GiB); larger requests get 413.
    pub max_body_bytes: Option<u64>,
    /// Uploads up to this size are kept in memory and handed to a worker in the job, larger ones
    /// are spooled to a file (default 1 MiB; 0 spools every upload).
    pub memory_upload_bytes: Option<u64>,
    /// Scans in flight at once (default: twice the workers); beyond it requests get 503.
    pub max_concurrent_scans: Option<usize>,
    /// Deadline of one scan (default 600 s); past it the verdict is `error`.
    pub scan_timeout_secs: Option<u64>,
    /// Longest wait for the next bytes of an upload (default 30 s): slow clients get 408.
    pub read_timeout_secs: Option<u64>,
    /// Worker processes (default: the number of CPUs).
    pub workers: Option<usize>,
    /// Address-space limit of each worker (default 4 GiB).
    pub worker_memory_bytes: Option<u64>,
    /// Where uploads are spooled (default: the system temporary directory).
    pub spool_dir: Option<PathBuf>,
    /// A second TOML file holding more `[[tokens]]` (kept apart so that, e.g., a Kubernetes
    /// Secret can hold the token digests while a ConfigMap holds the rest). Relative to the
    /// configuration file.
    pub tokens_file: Option<PathBuf>,
}

/// The contents of `[server] tokens_file`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    tokens: Vec<TokenConfig>,
}

/// What a token may do. Routes name the scope they need.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// `POST /v1/scan`.
    Scan,
    /// `POST /v1/verify`.
    Verify,
    /// `GET /v1/decisions`.
    Decisions,
    /// `GET /metrics`.
    Metrics,
    /// The Harbor scanner adapter (`/api/v1/…`).
    Harbor,
    /// The Kubernetes admission webhook (`POST /k8s/validate`).
    Admission,
}

/// `[[tokens]]`: one client of the gate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Written to the audit trail with every request the token makes.
    pub name: String,
    /// Lower-case hex SHA-256 of the token (the token itself is never stored).
    pub sha256: String,
    pub scopes: Vec<Scope>,
}

/// `[store]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite:///abs/path.db`, `sqlite://relative.db` or `postgres://…` (default
    /// `sqlite://modelgate.db`).
    pub url: Option<String>,
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
    /// The gate denies an artifact whose scan ran out of a budget, whatever `fail_on` says
    /// (default true).
    pub deny_on_inconclusive: Option<bool>,
    /// The gate denies an upload holding files the engine could not read (default true).
    pub deny_on_unscanned: Option<bool>,
    /// The gate denies (in `/v1/scan` and the Harbor adapter) unless a valid signature from a
    /// `[signing] trusted_keys` key covers exactly the artifact (default false).
    pub require_signature: Option<bool>,
}

impl PolicyConfig {
    /// The admission rules of this section at `fail_on` (the threshold may come from the
    /// command line); both rules are on unless the section turns them off.
    pub fn admission(&self, fail_on: Severity) -> crate::policy::Admission {
        crate::policy::Admission {
            fail_on,
            deny_on_inconclusive: self.deny_on_inconclusive.unwrap_or(true),
            deny_on_unscanned: self.deny_on_unscanned.unwrap_or(true),
        }
    }
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
    /// `[mlflow] enabled = true` without what it needs.
    #[error("{}: [mlflow] {problem}", path.display())]
    Mlflow { path: PathBuf, problem: String },
    /// A `[[tokens]]` entry that cannot match any token, or a name used twice.
    #[error("{}: [[tokens]] {name:?}: {problem}", path.display())]
    Token {
        path: PathBuf,
        name: String,
        problem: String,
    },
}

impl Config {
    /// Registry access for `sources` (`oci://HOST[/…]` among them): `opts` from the command line,
    /// with the credentials of the first source's host in `[[registries]]` when the command line
    /// gives none (passwords and tokens from the environment variables the entry names).
    pub fn registry_options(
        &self,
        mut opts: crate::image::ImageOptions,
        sources: &[String],
    ) -> crate::image::ImageOptions {
        let env = |name: &Option<String>| name.as_ref().and_then(|n| std::env::var(n).ok());
        let given = opts.username.is_some() || opts.bearer_token.is_some();
        for s in sources {
            let Some(rest) = s.strip_prefix("oci://") else {
                continue;
            };
            let host = rest.split('/').next().unwrap_or(rest);
            let Some(r) = self
                .registries
                .iter()
                .find(|r| r.host.eq_ignore_ascii_case(host))
            else {
                continue;
            };
            if r.insecure {
                opts.insecure_registries.push(r.host.clone());
            }
            if !given && opts.username.is_none() && opts.bearer_token.is_none() {
                opts.username.clone_from(&r.username);
                opts.password = env(&r.password_env);
                opts.bearer_token = env(&r.token_env);
            }
        }
        opts
    }

    /// Reads, parses and checks `path`; relative allowlist paths become relative to its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        let mut config = Self::parse_at(&text, path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        if let Some(file) = &config.server.tokens_file {
            let file = dir.join(file);
            let text = std::fs::read_to_string(&file).map_err(|error| ConfigError::Read {
                path: file.clone(),
                error,
            })?;
            let more: TokensFile = toml::from_str(&text).map_err(|error| ConfigError::Parse {
                path: file.clone(),
                error,
            })?;
            config.tokens.extend(more.tokens);
            Self::check_tokens(&config.tokens, &file)?;
            config.server.tokens_file = Some(file);
        }
        for k in config
            .signing
            .trusted_keys
            .iter_mut()
            .chain(&mut config.mlflow.local_roots)
        {
            if k.is_relative() {
                *k = dir.join(&*k);
            }
        }
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
        Self::check_tokens(&config.tokens, path)?;
        Self::check_mlflow(&config.mlflow, path)?;
        Ok(config)
    }

    /// An enabled `[mlflow]` names its tracking server and its secret's variable.
    fn check_mlflow(m: &MlflowConfig, path: &Path) -> Result<(), ConfigError> {
        let problem = if !m.enabled {
            None
        } else if m.tracking_uri.as_deref().is_none_or(str::is_empty) {
            Some("enabled = true needs tracking_uri")
        } else if m.secret_env.as_deref().is_none_or(str::is_empty) {
            Some("enabled = true needs secret_env (the environment variable holding the webhook secret)")
        } else {
            None
        };
        match problem {
            Some(p) => Err(ConfigError::Mlflow {
                path: path.to_owned(),
                problem: p.to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// Every token's digest is 64 lower-case hex digits, names are unique, scopes not empty.
    fn check_tokens(tokens: &[TokenConfig], path: &Path) -> Result<(), ConfigError> {
        let mut names = std::collections::BTreeSet::new();
        for t in tokens {
            let problem = if t.sha256.len() != 64
                || !t
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                Some("sha256 must be 64 lower-case hex digits (the SHA-256 of the token)")
            } else if !names.insert(t.name.as_str()) {
                Some("the name is used by another token")
            } else if t.scopes.is_empty() {
                Some("no scopes: the token could call nothing")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(ConfigError::Token {
                    path: path.to_owned(),
                    name: t.name.clone(),
                    problem: problem.to_owned(),
                });
            }
        }
        Ok(())
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
    fn gate_sections_are_typed_and_tokens_checked() {
        let c = Config::parse(
            r#"
[server]
listen = "0.0.0.0:9000"
max_body_bytes = 1024

[[tokens]]
name = "ci"
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
scopes = ["scan", "decisions"]

[store]
url = "sqlite://gate.db"
"#,
        )
        .expect("valid");
        assert_eq!(c.server.listen.as_deref(), Some("0.0.0.0:9000"));
        assert_eq!(c.tokens[0].scopes, [Scope::Scan, Scope::Decisions]);
        for (bad, why) in [
            ("sha256 = \"abc\"\nscopes = [\"scan\"]", "64 lower-case hex"),
            (
                "sha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\nscopes = []",
                "no scopes",
            ),
            (
                "sha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\nscopes = [\"root\"]",
                "root",
            ),
        ] {
            let text = format!("[[tokens]]\nname = \"x\"\n{bad}\n");
            let e = Config::parse(&text).expect_err(&text).to_string();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn integration_sections_are_typed_and_checked() {
        let c = Config::parse(
            "[harbor]\nenabled = true\nrefresh_after_secs = 10\n\n[kubernetes]\nenabled = true\nrequire = \"signature-or-verdict\"\n\n[policy]\nrequire_signature = true\n\n[[tokens]]\nname = \"h\"\nsha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\nscopes = [\"harbor\", \"admission\"]\n",
        )
        .expect("valid");
        assert!(c.harbor.enabled && c.kubernetes.enabled);
        assert_eq!(c.harbor.refresh_after_secs, Some(10));
        assert_eq!(
            c.kubernetes.require,
            Some(AdmissionRequirement::SignatureOrVerdict)
        );
        assert_eq!(c.policy.require_signature, Some(true));
        assert_eq!(c.tokens[0].scopes, [Scope::Harbor, Scope::Admission]);
        for (text, key) in [
            ("[harbor]\nenable = true\n", "enable"),
            ("[kubernetes]\nrequires = \"signature\"\n", "requires"),
            ("[kubernetes]\nrequire = \"anything\"\n", "anything"),
            // Harbor parses Refresh-After as an 8-bit integer.
            ("[harbor]\nrefresh_after_secs = 300\n", "refresh_after_secs"),
        ] {
            let e = Config::parse(text).expect_err(text).to_string();
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn the_mlflow_section_is_typed_and_checked() {
        let c = Config::parse(
            "[mlflow]\nenabled = true\ntracking_uri = \"http://127.0.0.1:5000\"\nsecret_env = \"S\"\nreconcile_secs = 60\n",
        )
        .expect("valid");
        assert!(c.mlflow.enabled);
        assert_eq!(c.mlflow.reconcile_secs, Some(60));
        for (text, why) in [
            (
                "[mlflow]\nenabled = true\nsecret_env = \"S\"\n",
                "tracking_uri",
            ),
            (
                "[mlflow]\nenabled = true\ntracking_uri = \"http://x\"\n",
                "secret_env",
            ),
            ("[mlflow]\nsecret = \"inline\"\n", "unknown field `secret`"),
        ] {
            let e = Config::parse(text).expect_err(text).to_string();
            assert!(e.contains(why), "{e}");
        }
    }

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
