//! The command line's shape: the top-level parser, the subcommand list, and the argument groups
//! several commands share (`PolicyArgs`, `ImageArgs`, `RegistryArgs`, `LimitArgs`). Each
//! command's own arguments live beside its code in `commands/`. Library types are wrapped here
//! (`SeverityArg`, `FormatArg`, `KeyTypeArg`) so clap stays out of the library.

use std::marker::PhantomData;
use std::path::PathBuf;

use clap::ValueEnum;

use modelgate::config::Config;
use modelgate::policy::{Policy, DEFAULT_FAIL_ON};
use modelgate::report::OutputFormat;
use modelgate::sign::KeyType;
use modelgate::Severity;

/// What `--fail-on` means for one command: its help line and its default. A type parameter of
/// [`PolicyArgs`] so every command shares one flag definition while `sign` and `convert` keep
/// their own wording and `convert` its own default.
pub trait Threshold: Clone + Send + Sync + 'static {
    const DEFAULT: Severity;
    const HELP: &'static str;
}

/// `scan` and `packages`: the exit status.
#[derive(Clone)]
pub struct ExitThreshold;
impl Threshold for ExitThreshold {
    const DEFAULT: Severity = DEFAULT_FAIL_ON;
    const HELP: &'static str = "Exit 1 when a finding at or above this severity exists";
}

/// `sign`: refusing to sign.
#[derive(Clone)]
pub struct SignThreshold;
impl Threshold for SignThreshold {
    const DEFAULT: Severity = DEFAULT_FAIL_ON;
    const HELP: &'static str = "Refuse to sign when a finding at or above this severity exists";
}

/// `convert`: refusing to convert (default medium, as documented in the README's "Converting to
/// safe formats").
#[derive(Clone)]
pub struct ConvertThreshold;
impl Threshold for ConvertThreshold {
    const DEFAULT: Severity = Severity::Medium;
    const HELP: &'static str =
        "Refuse when the scan of the input has a finding at or above this severity";
}

/// The policy flags of every command that judges a report.
///
/// `clap::Args` is implemented by hand rather than derived: the flag keeps its clap default
/// (shown in help and completions as before), and the parse still records whether the user
/// gave it, so `[policy] fail_on` from a configuration file applies only when the flag is absent.
#[derive(Clone)]
pub struct PolicyArgs<T: Threshold> {
    fail_on: Severity,
    /// `--fail-on` was on the command line (not its default).
    explicit: bool,
    threshold: PhantomData<T>,
}

const FAIL_ON: &str = "fail_on";

impl<T: Threshold> clap::FromArgMatches for PolicyArgs<T> {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let fail_on = m
            .get_one::<SeverityArg>(FAIL_ON)
            .map_or(T::DEFAULT, |s| Severity::from(*s));
        Ok(PolicyArgs {
            fail_on,
            explicit: m.value_source(FAIL_ON) == Some(clap::parser::ValueSource::CommandLine),
            threshold: PhantomData,
        })
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl<T: Threshold> clap::Args for PolicyArgs<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        // Severity's names are the flag's values (`SeverityArg` mirrors it variant for variant).
        let default = T::DEFAULT.as_str();
        cmd.arg(
            clap::Arg::new(FAIL_ON)
                .long("fail-on")
                .value_name("FAIL_ON")
                .value_parser(clap::builder::EnumValueParser::<SeverityArg>::new())
                .action(clap::ArgAction::Set)
                .default_value(default)
                .help(T::HELP),
        )
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl<T: Threshold> PolicyArgs<T> {
    /// The run policy: the threshold is the flag, else `[policy] fail_on` from the
    /// configuration, else the command's default; overrides come from the configuration.
    pub fn policy(&self, config: Option<&Config>) -> Policy {
        let flag = self.explicit.then_some(self.fail_on);
        match config {
            Some(c) => c.policy(flag, self.fail_on),
            None => Policy::at(self.fail_on),
        }
    }
}

/// Options for container images and package vetting (shared by `scan` and `packages`).
#[derive(clap::Args, Clone)]
pub struct ImageArgs {
    /// Only this platform of a multi-platform image (os/arch[/variant]); default: every platform.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Allowlist source (repeatable): a PEP 503 directory, an index URL, a requirements file
    /// with hashes, pylock.toml, uv.lock, or a native allowlist TOML.
    #[arg(long, value_name = "SOURCE")]
    pub allowlist: Vec<String>,
    /// modelgate.toml configuration file (`[allowlist] sources = [...]`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Registry access options (shared by `scan`, `packages`, `sign` and `verify`).
#[derive(clap::Args, Clone)]
pub struct RegistryArgs {
    /// Registry user name (the password is read from stdin with --password-stdin).
    #[arg(long, requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the registry password from standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// A registry bearer token used as is.
    #[arg(long, env = "MODELGATE_REGISTRY_TOKEN", hide_env_values = true)]
    pub registry_token: Option<String>,
    /// Allow plain HTTP for this registry (host[:port]); loopback registries always may use it.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub insecure_registry: Vec<String>,
    /// Do not read credentials from the Docker config file or credential helpers.
    #[arg(long)]
    pub no_docker_config: bool,
}

/// Budgets for hostile input (README, "Limits"). Sizes take K, M, G or T (powers of 1024).
#[derive(clap::Args, Clone, Default)]
#[command(next_help_heading = "Limits")]
#[allow(clippy::struct_field_names)] // the flags are --max-*; the fields say the same
pub struct LimitArgs {
    /// Bytes decompressed across the run [default: 100 x the input size, at least 2G].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_decompressed: Option<u64>,
    /// Bytes written to temporary files across the run [default: 4 x the input size, at least 1G].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_temp: Option<u64>,
    /// Largest decompressed/compressed ratio of one member past 16 MiB [default: 5000].
    #[arg(long, value_name = "N")]
    max_ratio: Option<u64>,
    /// Seconds for one top-level file and everything in it; 0 for no limit [default: 600].
    #[arg(long, value_name = "SECONDS")]
    max_seconds: Option<u64>,
    /// Archive members expanded across the run [default: 1000000].
    #[arg(long, value_name = "N")]
    max_members: Option<u64>,
    /// Containers nested inside each other that are opened [default: 12].
    #[arg(long, value_name = "N")]
    max_depth: Option<u32>,
    /// Findings and artifact records listed in a report; the rest are counted [default: 100000].
    #[arg(long, value_name = "N")]
    max_report_entries: Option<usize>,
}

impl LimitArgs {
    /// `l` with every limit given on the command line replaced.
    pub fn apply(&self, mut l: modelgate::engine::Limits) -> modelgate::engine::Limits {
        if let Some(v) = self.max_decompressed {
            l.max_total_uncompressed = Some(v);
        }
        if let Some(v) = self.max_temp {
            l.max_temp_bytes = Some(v);
        }
        if let Some(v) = self.max_ratio {
            l.max_ratio = v;
        }
        if let Some(v) = self.max_seconds {
            l.max_seconds = (v > 0).then_some(v);
        }
        if let Some(v) = self.max_members {
            l.max_members = v;
        }
        if let Some(v) = self.max_depth {
            l.max_depth = v;
        }
        if let Some(v) = self.max_report_entries {
            l.max_report_entries = v;
        }
        l
    }
}

/// `--fail-on` values ([`Severity`] without clap in the library).
#[derive(Clone, Copy, ValueEnum)]
pub enum SeverityArg {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl From<SeverityArg> for Severity {
    fn from(s: SeverityArg) -> Self {
        match s {
            SeverityArg::Info => Severity::Info,
            SeverityArg::Low => Severity::Low,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::High => Severity::High,
            SeverityArg::Critical => Severity::Critical,
        }
    }
}

/// `--format` values ([`OutputFormat`]).
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FormatArg {
    Text,
    Json,
    Sarif,
    // CycloneDX 1.6 AI-BOM (JSON); turns on hashing of every artifact.
    Cyclonedx,
}

impl From<FormatArg> for OutputFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Text => OutputFormat::Text,
            FormatArg::Json => OutputFormat::Json,
            FormatArg::Sarif => OutputFormat::Sarif,
            FormatArg::Cyclonedx => OutputFormat::Cyclonedx,
        }
    }
}

/// `keygen --type` values ([`KeyType`]); the variant docs are the help of each value.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum KeyTypeArg {
    /// Ed25519: modelgate's native key type. `model_signing` cannot verify Ed25519 signatures.
    Ed25519,
    /// ECDSA on NIST P-256 with SHA-256: verifiable by `model_signing verify key`.
    P256,
    /// ECDSA on NIST P-384 with SHA-384 (also accepted by model_signing).
    P384,
    /// ECDSA on NIST P-521 with SHA-512 (also accepted by model_signing).
    P521,
}

impl From<KeyTypeArg> for KeyType {
    fn from(k: KeyTypeArg) -> Self {
        match k {
            KeyTypeArg::Ed25519 => KeyType::Ed25519,
            KeyTypeArg::P256 => KeyType::P256,
            KeyTypeArg::P384 => KeyType::P384,
            KeyTypeArg::P521 => KeyType::P521,
        }
    }
}

/// A byte size: a number with an optional K, M, G or T suffix (powers of 1024; a trailing B or
/// iB is accepted).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown size suffix in {s:?} (use K, M, G or T)")),
            };
            (t.get(..i).unwrap_or_default(), m)
        }
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .map_err(|e| format!("invalid size {s:?}: {e}"))?
        .checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// `--jobs`: 1 to 8 threads per core. More threads than that only cost memory and start-up
/// (`--jobs 100000` used to spend minutes creating threads), so they are refused with the limit.
pub fn parse_jobs(s: &str) -> Result<usize, String> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let max = cores.saturating_mul(8).max(8);
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) if n > max => Err(format!(
            "{n} is more than {max} (8 threads per core on this machine's {cores} cores); more threads only add memory"
        )),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}
