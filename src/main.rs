//! The `modelgate` command line: a thin clap front end over the library. Errors become `anyhow`
//! here and nowhere else.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use modelgate::finding::Severity;
use modelgate::image::{self, ImageOptions};
use modelgate::packages::Allowlist;
use modelgate::report::{cyclonedx, modelscan, sarif, text};
use modelgate::sign::{self, KeyType, PrivateKey, PublicKey};
use modelgate::{codes, Engine, EngineOptions, Report, SignatureDb};

/// mimalloc instead of the system allocator: scanning allocates and frees many short-lived
/// buffers per file (read buffers, inflate windows, walker tables), which glibc malloc serves
/// with consolidation passes and fresh page faults. Measured with benches/compare_peers.sh:
/// dense pickle 90 -> 68 ms, 2,000 small files 21.5 -> 19.5 ms.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for usage errors (modelscan's).
const USAGE: u8 = 4;

#[derive(Parser)]
#[command(
    name = "modelgate",
    version,
    about = "Scan, convert and sign ML model files without executing them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum OutFormat {
    Text,
    Json,
    Sarif,
    // CycloneDX 1.6 AI-BOM (JSON); turns on hashing of every artifact.
    Cyclonedx,
}

/// Options for container images and package vetting (shared by `scan` and `packages`).
#[derive(clap::Args, Clone)]
struct ImageArgs {
    /// Only this platform of a multi-platform image (os/arch[/variant]); default: every platform.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Allowlist source (repeatable): a PEP 503 directory, an index URL, a requirements file
    /// with hashes, pylock.toml, uv.lock, or a native allowlist TOML.
    #[arg(long, value_name = "SOURCE")]
    allowlist: Vec<String>,
    /// modelgate.toml configuration file (`[allowlist] sources = [...]`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Registry access options (shared by `scan`, `packages`, `sign` and `verify`).
#[derive(clap::Args, Clone)]
struct RegistryArgs {
    /// Registry user name (the password is read from stdin with --password-stdin).
    #[arg(long, requires = "password_stdin")]
    username: Option<String>,
    /// Read the registry password from standard input.
    #[arg(long, requires = "username")]
    password_stdin: bool,
    /// A registry bearer token used as is.
    #[arg(long, env = "MODELGATE_REGISTRY_TOKEN", hide_env_values = true)]
    registry_token: Option<String>,
    /// Allow plain HTTP for this registry (host[:port]); loopback registries always may use it.
    #[arg(long, value_name = "HOST[:PORT]")]
    insecure_registry: Vec<String>,
    /// Do not read credentials from the Docker config file or credential helpers.
    #[arg(long)]
    no_docker_config: bool,
}

#[derive(clap::Args)]
struct ScanArgs {
    /// Files, directories, image layouts, image tarballs or oci://HOST/REPO[:TAG|@DIGEST].
    /// Paths may be any bytes the file system allows (not only UTF-8).
    #[arg(required = true)]
    paths: Vec<std::ffi::OsString>,
    #[command(flatten)]
    image: ImageArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "text")]
    format: OutFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Exit 1 when a finding at or above this severity exists.
    #[arg(long, value_enum, default_value = "low")]
    fail_on: Severity,
    /// Treat imports that are neither allowed nor denied as high instead of medium.
    #[arg(long)]
    strict: bool,
    /// Extra signature files (*.toml) that extend or override the built-in database.
    #[arg(long, value_name = "DIR")]
    signatures: Vec<PathBuf>,
    /// Worker threads (default: all cores; at most 8 per core).
    #[arg(long, short = 'j', value_parser = parse_jobs)]
    jobs: Option<usize>,
    /// List skipped artifacts in text output.
    #[arg(long)]
    show_skipped: bool,
    /// No progress, no summary on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Budgets for hostile input (README, "Limits"). Sizes take K, M, G or T (powers of 1024).
#[derive(clap::Args, Clone, Default)]
#[command(next_help_heading = "Limits")]
#[allow(clippy::struct_field_names)] // the flags are --max-*; the fields say the same
struct LimitArgs {
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
    fn apply(&self, mut l: modelgate::engine::Limits) -> modelgate::engine::Limits {
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

#[derive(Subcommand)]
enum Command {
    /// Scan model files, directories and archives.
    Scan(ScanArgs),
    /// Explain a finding code: what it detects, why it matters, what to do.
    Explain {
        /// A finding code such as pickle/unsafe-global; omit to list every code.
        code: Option<String>,
    },
    /// List the signature database.
    Signatures {
        #[arg(long, value_name = "DIR")]
        signatures: Vec<PathBuf>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inventory the Python packages of images or directories and vet them against allowlists.
    Packages(PackagesArgs),
    /// Convert a model to a safe format without executing it: PyTorch checkpoints and NumPy
    /// arrays to safetensors, scikit-learn pickles/joblib files to ONNX. The input is scanned
    /// first and refused when the scan has findings at or above --fail-on.
    Convert(ConvertArgs),
    /// Drop-in replacement for the `modelscan` CLI (also used when invoked as `modelscan`).
    Modelscan(ModelscanArgs),
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    /// Generate a signing key pair: NAME (PKCS#8 PEM, mode 0600) and NAME.pub (SPKI PEM).
    Keygen(KeygenArgs),
    /// Scan a model and, when approved, sign it (OpenSSF model-signing bundle).
    Sign(SignArgs),
    /// Verify a model against its signature (modelgate or model_signing bundles).
    Verify(VerifyArgs),
}

#[derive(clap::Args)]
struct KeygenArgs {
    /// Key type. Use p256 for signatures that `model_signing verify key` accepts.
    #[arg(long = "type", value_enum, default_value = "ed25519")]
    key_type: KeyType,
    /// Private key path; the public key is written to NAME.pub.
    #[arg(short = 'o', long = "output", value_name = "NAME")]
    output: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args)]
struct SignArgs {
    /// Model directory (or single file) to scan and sign, or a container image
    /// oci://HOST[:PORT]/REPO[:TAG|@DIGEST] (the signature is pushed as an OCI referrer).
    path: PathBuf,
    /// Private key (PEM: PKCS#8 Ed25519/P-256, or SEC1 P-256).
    #[arg(long, short = 'k')]
    key: PathBuf,
    /// Signature file (default PATH/model.sig; FILE.sig for a single file).
    #[arg(long, short = 's')]
    signature: Option<PathBuf>,
    /// Leave this path out of the signature (relative to PATH, or absolute inside it); repeatable.
    #[arg(long = "ignore", value_name = "PATH")]
    ignore: Vec<PathBuf>,
    /// Also sign .git, .github, .gitattributes and .gitignore.
    #[arg(long)]
    no_ignore_git_paths: bool,
    /// Refuse to sign when a finding at or above this severity exists.
    #[arg(long, value_enum, default_value = "low")]
    fail_on: Severity,
    /// Treat imports that are neither allowed nor denied as high instead of medium.
    #[arg(long)]
    strict: bool,
    /// Extra signature files (*.toml) that extend or override the built-in database.
    #[arg(long, value_name = "DIR")]
    signatures: Vec<PathBuf>,
    /// Do not write the scan attestation (SIGNATURE.scan.json).
    #[arg(long)]
    no_scan_attestation: bool,
    /// Worker threads (default: all cores; at most 8 per core).
    #[arg(long, short = 'j', value_parser = parse_jobs)]
    jobs: Option<usize>,
    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// Model directory (or single file) to verify, or a container image
    /// oci://HOST[:PORT]/REPO[:TAG|@DIGEST] (its signature referrers are checked).
    path: PathBuf,
    /// Public key (PEM SubjectPublicKeyInfo, e.g. NAME.pub).
    #[arg(long, short = 'k')]
    key: PathBuf,
    /// Signature file (default PATH/model.sig; FILE.sig for a single file).
    #[arg(long, short = 's')]
    signature: Option<PathBuf>,
    /// Leave this local path out (relative to PATH, or absolute inside it); repeatable.
    #[arg(long = "ignore", value_name = "PATH")]
    ignore: Vec<PathBuf>,
    /// Fail unless a valid scan attestation (SIGNATURE.scan.json) accompanies the signature.
    #[arg(long)]
    require_scan: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Worker threads (default: all cores; at most 8 per core).
    #[arg(long, short = 'j', value_parser = parse_jobs)]
    jobs: Option<usize>,
    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(clap::Args)]
struct PackagesArgs {
    /// Images (oci://…, layout directories, image tarballs) or directories (venvs, rootfs).
    #[arg(required = true)]
    sources: Vec<String>,
    #[command(flatten)]
    image: ImageArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "text")]
    format: OutFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Exit 1 when a finding at or above this severity exists.
    #[arg(long, value_enum, default_value = "low")]
    fail_on: Severity,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ConvertTo {
    Safetensors,
    Onnx,
}

#[derive(clap::Args)]
struct ConvertArgs {
    /// The model file to convert.
    input: PathBuf,
    /// Output format.
    #[arg(long, value_enum)]
    to: ConvertTo,
    /// Output file (default: the input with the target's extension).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Refuse when the scan of the input has a finding at or above this severity.
    #[arg(long, value_enum, default_value = "medium")]
    fail_on: Severity,
    /// Add a ZipMap to classifier graphs (outputs output_label and output_probability, as
    /// skl2onnx does by default).
    #[arg(long)]
    zipmap: bool,
    /// Extra signature files (*.toml) that extend or override the built-in database.
    #[arg(long, value_name = "DIR")]
    signatures: Vec<PathBuf>,
    /// Print the conversion summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Sign the converted file with this private key (OpenSSF model-signing bundle written to
    /// OUTPUT.sig, plus the scan attestation), after it has been scanned and approved.
    #[arg(long, value_name = "KEY")]
    sign: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ModelscanArgs {
    #[command(subcommand)]
    sub: Option<ModelscanSub>,
    #[command(flatten)]
    scan: ModelscanScan,
}

#[derive(Subcommand)]
enum ModelscanSub {
    /// Scan a path (modelscan's default command).
    Scan(ModelscanScan),
}

#[derive(clap::Args, Clone)]
struct ModelscanScan {
    /// Path to the file or folder to scan.
    #[arg(short = 'p', long = "path")]
    path: Option<PathBuf>,
    /// Reporting format.
    #[arg(short = 'r', long = "reporting-format", default_value = "console", value_parser = ["console", "json", "custom"])]
    reporting_format: String,
    /// Optional file name for the JSON report.
    #[arg(short = 'o', long = "output-file")]
    output_file: Option<PathBuf>,
    /// Print the list of files that were skipped.
    #[arg(long)]
    show_skipped: bool,
    /// Logging level (accepted for compatibility).
    #[arg(short = 'l', long = "log", default_value = "INFO")]
    log: String,
    /// modelscan settings file: its unsafe_globals are added to the denylist (they never remove entries).
    #[arg(long = "settings-file")]
    settings_file: Option<PathBuf>,
}

/// `--jobs`: 1 to 8 threads per core. More threads than that only cost memory and start-up
/// (`--jobs 100000` used to spend minutes creating threads), so they are refused with the limit.
fn parse_jobs(s: &str) -> Result<usize, String> {
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

fn main() -> ExitCode {
    // Decoder panics caught by the library are findings; do not also print them as crashes.
    modelgate::guard::install_quiet_hook();
    let argv0 = std::env::args_os().next().map(PathBuf::from);
    let invoked_as_modelscan = argv0
        .as_ref()
        .and_then(|p| p.file_stem())
        .is_some_and(|s| s == "modelscan");
    let parsed = if invoked_as_modelscan {
        let mut args: Vec<std::ffi::OsString> = vec!["modelgate".into(), "modelscan".into()];
        args.extend(std::env::args_os().skip(1));
        Cli::try_parse_from(args)
    } else {
        Cli::try_parse()
    };
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            // The reader went away (`modelgate signatures | head`): stop quietly, as SIGPIPE would.
            ExitCode::from(141)
        }
        Err(e) => {
            eprintln!(
                "modelgate: {}",
                modelgate::report::text::visible(&format!("{e:#}"))
            );
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Scan(args) => scan(&args),
        Command::Packages(args) => packages_cmd(&args),
        Command::Explain { code } => Ok(explain(code.as_deref())?),
        Command::Signatures { signatures, json } => list_signatures(&signatures, json),
        Command::Convert(args) => convert(&args),
        Command::Modelscan(args) => {
            let scan = match args.sub {
                Some(ModelscanSub::Scan(s)) => s,
                None => args.scan,
            };
            modelscan_compat(&scan)
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "modelgate",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
        Command::Keygen(args) => keygen(&args),
        Command::Sign(args) => sign_cmd(&args),
        Command::Verify(args) => Ok(verify_cmd(&args)),
    }
}

fn load_db(dirs: &[PathBuf]) -> Result<SignatureDb> {
    let dirs: Vec<&std::path::Path> = dirs.iter().map(PathBuf::as_path).collect();
    Ok(SignatureDb::load(&dirs)?)
}

/// Image options and the allowlist from the command line and `--config`.
fn image_setup(args: &ImageArgs) -> Result<(ImageOptions, Allowlist)> {
    let opts = ImageOptions {
        platform: args.platform.clone(),
        ..registry_setup(&args.registry)?
    };
    let mut sources = args.allowlist.clone();
    if let Some(cfg) = &args.config {
        sources.extend(config_sources(cfg)?);
    }
    let allow = Allowlist::load(&sources)?;
    Ok((opts, allow))
}

/// Registry access options from the command line (the password from stdin).
fn registry_setup(args: &RegistryArgs) -> Result<ImageOptions> {
    let password = if args.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_line(&mut s)
            .context("reading the password from stdin")?;
        Some(s.trim_end_matches(['\r', '\n']).to_owned())
    } else {
        None
    };
    Ok(ImageOptions {
        platform: None,
        username: args.username.clone(),
        password,
        bearer_token: args.registry_token.clone().filter(|t| !t.is_empty()),
        insecure_registries: args.insecure_registry.clone(),
        docker_config: !args.no_docker_config,
        scan_layers: true,
    })
}

/// `[allowlist] sources = [...]` from a modelgate.toml; relative paths are relative to the file.
fn config_sources(path: &std::path::Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: toml::Value =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let list = v
        .get("allowlist")
        .and_then(|a| a.get("sources"))
        .and_then(toml::Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for s in list {
        let s = s
            .as_str()
            .with_context(|| format!("{}: allowlist sources must be strings", path.display()))?;
        if s.contains("://") || std::path::Path::new(s).is_absolute() {
            out.push(s.to_owned());
        } else {
            out.push(dir.join(s).display().to_string());
        }
    }
    Ok(out)
}

fn missing_target<T: AsRef<std::ffi::OsStr>>(targets: &[T]) -> Option<String> {
    targets
        .iter()
        .map(AsRef::as_ref)
        .find(|t| {
            !t.to_str().is_some_and(|s| s.starts_with("oci://"))
                && std::fs::symlink_metadata(t).is_err()
        })
        .map(|t| text::visible(&t.to_string_lossy()).into_owned())
}

fn packages_cmd(args: &PackagesArgs) -> Result<u8> {
    if let Some(t) = missing_target(&args.sources) {
        eprintln!("modelgate: no such file or directory: {t}");
        return Ok(USAGE);
    }
    let engine = Engine::new(
        SignatureDb::embedded()?,
        EngineOptions {
            hash_artifacts: args.format == OutFormat::Cyclonedx,
            ..EngineOptions::default()
        },
    )?;
    let (opts, mut allow) = image_setup(&args.image)?;
    let allow_ref = (!allow.is_empty()).then_some(&mut allow);
    let report = image::inventory_targets(&engine, &args.sources, &opts, allow_ref)?;
    let rendered = match args.format {
        OutFormat::Text => {
            text::render_packages(&report)
                + &text::render(
                    &report,
                    text::TextOptions {
                        color: false,
                        show_skipped: false,
                    },
                )
        }
        OutFormat::Json => report.to_json() + "\n",
        OutFormat::Sarif => sarif::render(&report) + "\n",
        OutFormat::Cyclonedx => cyclonedx::render(&report) + "\n",
    };
    exit_after_write(
        report.exit_code(args.fail_on),
        write_out(args.output.as_ref(), &rendered),
        args.output.is_some(),
    )
}

fn scan(args: &ScanArgs) -> Result<u8> {
    let db = load_db(&args.signatures)?;
    let progress = (!args.quiet && std::io::stderr().is_terminal()).then(progress_bar);
    let opts = EngineOptions {
        strict: args.strict,
        jobs: args.jobs,
        progress,
        hash_artifacts: args.format == OutFormat::Cyclonedx,
        limits: args.limits.apply(modelgate::engine::Limits::default()),
    };
    let engine = Engine::new(db, opts)?;
    if let Some(t) = missing_target(&args.paths) {
        eprintln!("modelgate: no such file or directory: {t}");
        return Ok(USAGE);
    }
    let (img_opts, mut allow) = image_setup(&args.image)?;
    let allow_ref = (!allow.is_empty()).then_some(&mut allow);
    let report = image::scan_targets(&engine, &args.paths, &img_opts, allow_ref)?;
    let color = args.output.is_none()
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let rendered = match args.format {
        OutFormat::Text => text::render(
            &report,
            text::TextOptions {
                color,
                show_skipped: args.show_skipped,
            },
        ),
        OutFormat::Json => report.to_json() + "\n",
        OutFormat::Sarif => sarif::render(&report) + "\n",
        OutFormat::Cyclonedx => cyclonedx::render(&report) + "\n",
    };
    exit_after_write(
        report.exit_code(args.fail_on),
        write_out(args.output.as_ref(), &rendered),
        args.output.is_some(),
    )
}

/// A progress bar on stderr, drawn only for runs that take long enough to need one.
fn progress_bar() -> modelgate::Progress {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {wide_bar} {pos}/{len} files, {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    modelgate::Progress(std::sync::Arc::new(move |ev| match ev {
        modelgate::ProgressEvent::Planned { files, bytes } => {
            bar.set_length(files);
            bar.set_message(String::new());
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed}] {wide_bar} {pos}/{len} files ({msg})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(format!("{} MiB", bytes / (1024 * 1024)));
            bar.enable_steady_tick(std::time::Duration::from_millis(250));
        }
        modelgate::ProgressEvent::FileDone { .. } => {
            bar.inc(1);
            if bar.position() >= bar.length().unwrap_or(u64::MAX) {
                bar.finish_and_clear();
            }
        }
    }))
}

/// The exit code once the report has been written, or could not be: a report file that cannot
/// be written is said on stderr and exits 2, unless the scan found something at the threshold
/// (findings dominate: a pipeline must not read "could not write" as "nothing found"). Errors
/// writing to stdout (a closed pipe) propagate as before.
fn exit_after_write(code: u8, written: Result<()>, to_file: bool) -> Result<u8> {
    match written {
        Ok(()) => Ok(code),
        Err(e) if to_file => {
            eprintln!(
                "modelgate: {}",
                modelgate::report::text::visible(&format!("{e:#}"))
            );
            Ok(if code == 1 { 1 } else { 2 })
        }
        Err(e) => Err(e),
    }
}

fn write_out(path: Option<&PathBuf>, s: &str) -> Result<()> {
    match path {
        Some(p) => std::fs::write(p, s).with_context(|| format!("writing {}", p.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(s.as_bytes())?;
            out.flush()?;
            Ok(())
        }
    }
}

fn explain(code: Option<&str>) -> std::io::Result<u8> {
    let mut out = std::io::stdout().lock();
    let Some(id) = code else {
        for c in codes::all() {
            writeln!(out, "{:<40} {:<8} {}", c.id, c.severity, c.summary)?;
        }
        return Ok(0);
    };
    let Some(c) = codes::find(id) else {
        eprintln!("modelgate: unknown finding code {id:?}; `modelgate explain` lists them all");
        return Ok(USAGE);
    };
    writeln!(out, "{} ({})\n\n{}\n", c.id, c.severity, c.summary)?;
    writeln!(out, "What it detects\n  {}\n", c.detects)?;
    writeln!(out, "Why it is dangerous\n  {}\n", c.why)?;
    writeln!(out, "Example\n  {}\n", c.example)?;
    writeln!(out, "Remediation\n  {}", c.remediation)?;
    if !c.references.is_empty() {
        writeln!(out, "\nReferences")?;
        for r in c.references {
            writeln!(out, "  {r}")?;
        }
    }
    Ok(0)
}

fn list_signatures(dirs: &[PathBuf], json: bool) -> Result<u8> {
    let db = load_db(dirs)?;
    let mut out = std::io::stdout().lock();
    if json {
        let v = serde_json::json!({ "info": db.info(), "entries": db.entries() });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(0);
    }
    let info = db.info();
    writeln!(
        out,
        "signature database {} ({} entries, sha256 {})",
        info.version, info.entries, info.digest
    )?;
    for e in db.entries() {
        let sev = e.severity.map(|s| s.to_string()).unwrap_or_default();
        writeln!(
            out,
            "{:<14} {:<8} {:<9} {}.{}  — {}",
            e.kind,
            format!("{:?}", e.action).to_lowercase(),
            sev,
            e.module,
            e.name,
            e.reason
        )?;
    }
    Ok(0)
}

fn convert(args: &ConvertArgs) -> Result<u8> {
    use modelgate::convert::{self as cv, ConvertError, ConvertOptions, Target};
    if !args.input.is_file() {
        eprintln!("modelgate: no such file: {}", args.input.display());
        return Ok(USAGE);
    }
    let target = match args.to {
        ConvertTo::Safetensors => Target::Safetensors,
        ConvertTo::Onnx => Target::Onnx,
    };
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| cv::default_output(&args.input, target));
    if output.exists()
        && std::fs::canonicalize(&output).ok() == std::fs::canonicalize(&args.input).ok()
    {
        eprintln!("modelgate: the output would overwrite the input");
        return Ok(USAGE);
    }
    // Load the signing key first: a bad key must fail before any work is done.
    let signing_key = match &args.sign {
        Some(path) => Some(
            sign::PrivateKey::load(path).with_context(|| format!("loading {}", path.display()))?,
        ),
        None => None,
    };
    let db = load_db(&args.signatures)?;
    let engine = Engine::new(db, EngineOptions::default())?;
    // The source hash goes into the output's metadata; compute it while the scan runs.
    let hasher = {
        let input = args.input.clone();
        std::thread::spawn(move || cv::sha256_file(&input))
    };
    let report = engine.scan_paths(std::slice::from_ref(&args.input))?;
    let sha = hasher
        .join()
        .map_err(|_| anyhow::anyhow!("hashing thread panicked"))?
        .with_context(|| format!("reading {}", args.input.display()))?;
    if !report.approved(args.fail_on) {
        let text = text::render(&report, text::TextOptions::default());
        eprint!("{text}");
        eprintln!(
            "modelgate: refused to convert {}: the scan did not approve it at --fail-on {}",
            args.input.display(),
            args.fail_on
        );
        return Ok(report.exit_code(args.fail_on).max(1));
    }
    let opts = ConvertOptions {
        zipmap: args.zipmap,
        source_sha256: Some(sha),
    };
    let summary = match cv::convert_to_path(&args.input, target, &output, &opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "modelgate: conversion of {} failed: {e}",
                args.input.display()
            );
            if let ConvertError::Forbidden { module, name, .. } = &e {
                for f in &report.findings {
                    if f.global
                        .as_ref()
                        .is_some_and(|g| g.module == *module && g.name == *name)
                    {
                        eprintln!(
                            "  scan finding: [{}] {} {}",
                            f.severity,
                            f.code,
                            modelgate::report::text::visible(&f.message)
                        );
                    }
                }
                return Ok(1);
            }
            return Ok(2);
        }
    };
    // Scan what was written, as any artifact entering the organisation is scanned.
    let after = engine.scan_paths(std::slice::from_ref(&output))?;
    if !after.approved(args.fail_on) {
        let _ = std::fs::remove_file(&output);
        eprint!("{}", text::render(&after, text::TextOptions::default()));
        eprintln!("modelgate: the converted output did not pass the scan; removed it");
        return Ok(2);
    }
    let signed = match &signing_key {
        Some(key) => {
            let opts = sign::SignOptions {
                fail_on: args.fail_on,
                ..sign::SignOptions::default()
            };
            match sign::sign_directory(&engine, &output, key, &opts, &|_| {}) {
                Ok(s) => Some(s),
                Err(e) => {
                    // The artifact is fine; only the signature failed. Keep the output, say so.
                    eprintln!(
                        "modelgate: converted {} but signing failed: {e}",
                        output.display()
                    );
                    return Ok(2);
                }
            }
        }
        None => None,
    };
    if args.json {
        let v = serde_json::json!({
            "input": args.input,
            "output": output,
            "summary": summary,
            "signature": signed.as_ref().map(|s| &s.signature),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!(
        "converted {} ({}) -> {} ({} bytes)",
        args.input.display(),
        summary.input_kind,
        output.display(),
        summary.output_bytes
    );
    println!("source sha256 {}", summary.source_sha256);
    println!("output sha256 {}", summary.output_sha256);
    if let Some(s) = &signed {
        println!("signed: {} ({})", s.signature.display(), s.key_type);
    }
    if !summary.tensors.is_empty() {
        println!("tensors: {}", summary.tensors.len());
    }
    for (a, k) in &summary.aliases {
        println!("alias: {a} -> {k} (shared storage; recorded in __metadata__)");
    }
    for s in &summary.skipped {
        println!("not converted (not a tensor): {s}");
    }
    for p in &summary.placeholders {
        println!("inert global kept as an opaque placeholder (never called): {p}");
    }
    for n in &summary.notes {
        println!("note: {n}");
    }
    Ok(0)
}

fn modelscan_compat(args: &ModelscanScan) -> Result<u8> {
    let Some(path) = &args.path else {
        eprintln!("Usage: modelscan scan [OPTIONS]\nTry 'modelscan scan --help' for help.\n\nError: Command expects path");
        return Ok(USAGE);
    };
    if std::fs::symlink_metadata(path).is_err() {
        eprintln!(
            "Error: Invalid value for '-p' / '--path': Path '{}' does not exist.",
            path.display()
        );
        return Ok(USAGE);
    }
    // modelscan loads ./modelscan-settings.toml when no file is given. modelgate does the same
    // for compatibility, but a settings file can only add denied globals, never remove any.
    let cwd_settings = std::env::current_dir()?.join("modelscan-settings.toml");
    let settings = args
        .settings_file
        .clone()
        .or_else(|| cwd_settings.is_file().then_some(cwd_settings.clone()));
    let mut extra = Vec::new();
    if let Some(file) = &settings {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        extra.push((
            file.display().to_string(),
            modelgate::signatures::from_modelscan_settings(&text)?,
        ));
    }
    let db = SignatureDb::load_with(&[], extra)?;
    let engine = Engine::new(db, EngineOptions::default())?;
    let report: Report = engine.scan_paths(std::slice::from_ref(path))?;
    let ts = chrono::Local::now()
        .naive_local()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string();
    let value = modelscan::to_value(&report, &path.display().to_string(), args.show_skipped, &ts);
    let written = match &args.output_file {
        Some(out) => std::fs::write(out, serde_json::to_string(&value)?)
            .with_context(|| format!("writing {}", out.display())),
        None => Ok(()),
    };
    match args.reporting_format.as_str() {
        "json" => println!("{}", serde_json::to_string(&value)?),
        _ => {
            match &settings {
                Some(f) => println!("Detected settings file. Using {}. \n", f.display()),
                None => println!(
                    "No settings file detected at {}. Using defaults. \n",
                    cwd_settings.display()
                ),
            }
            print!("{}", modelscan::render_console(&value, args.show_skipped));
        }
    }
    // modelscan's own precedence is 3 > 2 > 1; modelgate lets findings dominate (see README).
    exit_after_write(
        report.exit_code(Severity::Low),
        written,
        args.output_file.is_some(),
    )
}

fn keygen(args: &KeygenArgs) -> Result<u8> {
    let key = PrivateKey::generate(args.key_type)?;
    let pub_path = sign::keys::write_key_pair(&key, &args.output, args.force)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "wrote {} private key {} (mode 0600) and public key {}",
        key.key_type(),
        args.output.display(),
        pub_path.display()
    );
    if args.key_type == KeyType::Ed25519 {
        eprintln!("note: model_signing verifies ECDSA keys only; use --type p256 for signatures it must accept");
    }
    Ok(0)
}

/// A byte progress bar on stderr, shown only on a terminal.
fn byte_progress_bar(quiet: bool) -> Option<indicatif::ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(0);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    Some(pb)
}

fn on_progress(pb: Option<&indicatif::ProgressBar>) -> impl Fn(sign::Progress) + Sync + '_ {
    move |p| {
        if let Some(pb) = pb {
            match p {
                sign::Progress::Scanning => pb.set_message("scanning"),
                sign::Progress::Hashing { total_bytes } => {
                    pb.set_message("hashing");
                    pb.set_length(total_bytes);
                }
                sign::Progress::Hashed(n) => pb.inc(n),
            }
        }
    }
}

fn sign_cmd(args: &SignArgs) -> Result<u8> {
    if let Some(reference) = oci_target(&args.path) {
        return sign_image_cmd(args, &reference);
    }
    if std::fs::symlink_metadata(&args.path).is_err() {
        eprintln!(
            "modelgate: no such file or directory: {}",
            args.path.display()
        );
        return Ok(USAGE);
    }
    let (key, engine) = signing_setup(args)?;
    let opts = sign::SignOptions {
        signature: args.signature.clone(),
        ignore: args.ignore.clone(),
        ignore_git_paths: !args.no_ignore_git_paths,
        fail_on: args.fail_on,
        scan_attestation: !args.no_scan_attestation,
        threads: args.jobs,
    };
    let pb = byte_progress_bar(args.quiet);
    let progress = on_progress(pb.as_ref());
    let result = sign::sign_directory(&engine, &args.path, &key, &opts, &progress);
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    match result {
        Ok(signed) => {
            println!(
                "signed {} file(s), {} bytes, with {} key {}",
                signed.manifest.resources.len(),
                signed.bytes,
                signed.key_type,
                key.public_key().hint()
            );
            println!("signature: {}", signed.signature.display());
            if let Some(p) = &signed.scan_attestation {
                println!("scan attestation: {}", p.display());
            }
            if signed.key_type == KeyType::Ed25519 {
                eprintln!("note: Ed25519 signatures verify with `modelgate verify`; model_signing accepts only ECDSA (P-256) signatures");
            }
            Ok(0)
        }
        Err(sign::SignError::Refused { reason, report }) => {
            print!(
                "{}",
                text::render(
                    &report,
                    text::TextOptions {
                        color: false,
                        show_skipped: true
                    }
                )
            );
            eprintln!(
                "modelgate: refusing to sign {}: {reason}; no signature written",
                args.path.display()
            );
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}

fn verify_cmd(args: &VerifyArgs) -> u8 {
    let key = match PublicKey::load(&args.key) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("Verification failed: {e}");
            return 1;
        }
    };
    if let Some(reference) = oci_target(&args.path) {
        return verify_image_cmd(args, &reference, &key);
    }
    let opts = sign::VerifyOptions {
        signature: args.signature.clone(),
        ignore: args.ignore.clone(),
        require_scan_attestation: args.require_scan,
        threads: args.jobs,
    };
    let pb = byte_progress_bar(args.quiet || args.json);
    let progress = on_progress(pb.as_ref());
    let result = sign::verify_directory(&args.path, &key, &opts, &progress);
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    match result {
        Ok(v) => {
            if args.json {
                let out = serde_json::json!({
                    "verified": true,
                    "model": v.model_name,
                    "key_type": v.key_type.as_str(),
                    "files": v.files,
                    "bytes": v.bytes,
                    "hash": v.hash.name(),
                    "subject_sha256": v.root_digest,
                    "scan": v.scan,
                });
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            } else {
                println!(
                    "Verification succeeded: {} file(s), {} bytes, {}, {} key",
                    v.files, v.bytes, v.hash, v.key_type
                );
                if !v.hint_present {
                    eprintln!(
                        "warning: the signature does not name its key (older model_signing format)"
                    );
                }
                match &v.scan {
                    Some(s) => println!(
                        "scan attestation: approved by {} {} at fail-on {} (signature database {}), {} scanned, {} skipped, {} finding(s) below the threshold, at {}",
                        s.scanner.name,
                        s.scanner.version,
                        s.policy.fail_on,
                        s.signature_database.version,
                        s.summary.scanned,
                        s.summary.skipped,
                        s.summary.total_findings,
                        s.scanned_at
                    ),
                    None => println!("scan attestation: none"),
                }
            }
            0
        }
        Err(e) => {
            if args.json {
                let out = serde_json::json!({ "verified": false, "error": e.to_string() });
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            }
            eprintln!("Verification failed: {e}");
            1
        }
    }
}

/// The registry reference of an `oci://` target.
fn oci_target(path: &std::path::Path) -> Option<String> {
    path.to_str()
        .and_then(|s| s.strip_prefix("oci://"))
        .map(str::to_owned)
}

/// The signing key and the engine that scans before signing, shared by directory and image
/// signing.
fn signing_setup(args: &SignArgs) -> Result<(PrivateKey, Engine)> {
    let key = PrivateKey::load(&args.key)?;
    let opts = EngineOptions {
        strict: args.strict,
        jobs: args.jobs,
        ..EngineOptions::default()
    };
    let engine = Engine::new(load_db(&args.signatures)?, opts)?;
    Ok((key, engine))
}

fn sign_image_cmd(args: &SignArgs, reference: &str) -> Result<u8> {
    use sign::oci;
    if args.signature.is_some() || !args.ignore.is_empty() || args.no_scan_attestation {
        eprintln!("modelgate: --signature, --ignore and --no-scan-attestation apply to model directories; an image signature is pushed to the registry and always carries the scan attestation");
        return Ok(USAGE);
    }
    let (key, engine) = signing_setup(args)?;
    let opts = oci::OciSignOptions {
        image: registry_setup(&args.registry)?,
        fail_on: args.fail_on,
    };
    match oci::sign_image(&engine, reference, &key, &opts) {
        Ok(s) => {
            println!(
                "signed {} ({}) with {} key {}",
                s.pinned,
                s.media_type,
                s.key_type,
                key.public_key().hint()
            );
            println!("referrer: {} (bundle {})", s.referrer, s.bundle_digest);
            match &s.listing {
                oci::Listing::ReferrersApi => println!("listed by the registry's referrers API"),
                oci::Listing::TagSchema(tag) => {
                    println!("listed in the referrers tag-schema index {tag}");
                }
            }
            Ok(0)
        }
        Err(oci::OciSignError::Refused {
            image,
            reason,
            report,
        }) => {
            print!(
                "{}",
                text::render(
                    &report,
                    text::TextOptions {
                        color: false,
                        show_skipped: true
                    }
                )
            );
            eprintln!("modelgate: refusing to sign {image}: {reason}; nothing pushed");
            Ok(1)
        }
        Err(oci::OciSignError::Registry(e)) => {
            eprintln!("modelgate: {e}");
            Ok(2)
        }
        Err(e) => Err(e.into()),
    }
}

fn verify_image_cmd(args: &VerifyArgs, reference: &str, key: &PublicKey) -> u8 {
    use sign::oci;
    if args.signature.is_some() || !args.ignore.is_empty() {
        eprintln!("modelgate: --signature and --ignore apply to model directories; an image's signatures are found in the registry");
        return USAGE;
    }
    let opts = match registry_setup(&args.registry) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("modelgate: {e:#}");
            return USAGE;
        }
    };
    match oci::verify_image(reference, key, &opts) {
        Ok(v) => {
            if args.json {
                let out = serde_json::json!({
                    "verified": true,
                    "image": v.pinned,
                    "digest": v.digest,
                    "media_type": v.media_type,
                    "referrer": v.referrer,
                    "subject_name": v.subject_name,
                    "key_type": v.key_type.as_str(),
                    "scan": v.scan,
                });
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            } else {
                println!(
                    "Verification succeeded: {} signed with {} key (referrer {})",
                    v.pinned, v.key_type, v.referrer
                );
                let s = &v.scan;
                println!(
                    "scan attestation: approved by {} {} at fail-on {} (signature database {}), {} scanned, {} skipped, {} finding(s) below the threshold, at {}",
                    s.scanner.name,
                    s.scanner.version,
                    s.policy.fail_on,
                    s.signature_database.version,
                    s.summary.scanned,
                    s.summary.skipped,
                    s.summary.total_findings,
                    s.scanned_at
                );
            }
            0
        }
        Err(e) => {
            if args.json {
                let out = serde_json::json!({ "verified": false, "error": e.to_string() });
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            }
            eprintln!("Verification failed: {e}");
            1
        }
    }
}
