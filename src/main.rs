//! The `modelgate` command line: a thin clap front end over the library. Errors become `anyhow`
//! here and nowhere else.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use modelgate::finding::Severity;
use modelgate::report::{modelscan, sarif, text};
use modelgate::sign::{self, KeyType, PrivateKey, PublicKey};
use modelgate::{codes, Engine, EngineOptions, Report, SignatureDb};

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
}

#[derive(clap::Args)]
struct ScanArgs {
    /// Files or directories to scan.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
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
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// List skipped artifacts in text output.
    #[arg(long)]
    show_skipped: bool,
    /// No progress, no summary on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
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
    /// Model directory (or single file) to scan and sign.
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
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// Model directory (or single file) to verify.
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
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
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
    /// modelscan settings file (accepted; its unsafe_globals extend the denylist in a later release).
    #[arg(long = "settings-file")]
    settings_file: Option<PathBuf>,
}

fn main() -> ExitCode {
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
        Err(e) => {
            eprintln!("modelgate: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Scan(args) => scan(&args),
        Command::Explain { code } => Ok(explain(code.as_deref())),
        Command::Signatures { signatures, json } => list_signatures(&signatures, json),
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

fn scan(args: &ScanArgs) -> Result<u8> {
    let db = load_db(&args.signatures)?;
    let opts = EngineOptions {
        strict: args.strict,
        jobs: args.jobs,
        ..EngineOptions::default()
    };
    let engine = Engine::new(db, opts)?;
    for p in &args.paths {
        if std::fs::symlink_metadata(p).is_err() {
            eprintln!("modelgate: no such file or directory: {}", p.display());
            return Ok(USAGE);
        }
    }
    let report = engine.scan_paths(&args.paths)?;
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
    };
    write_out(args.output.as_ref(), &rendered)?;
    Ok(report.exit_code(args.fail_on))
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

fn explain(code: Option<&str>) -> u8 {
    let Some(id) = code else {
        for c in codes::all() {
            println!("{:<40} {:<8} {}", c.id, c.severity, c.summary);
        }
        return 0;
    };
    let Some(c) = codes::find(id) else {
        eprintln!("modelgate: unknown finding code {id:?}; `modelgate explain` lists them all");
        return USAGE;
    };
    println!("{} ({})\n\n{}\n", c.id, c.severity, c.summary);
    println!("What it detects\n  {}\n", c.detects);
    println!("Why it is dangerous\n  {}\n", c.why);
    println!("Example\n  {}\n", c.example);
    println!("Remediation\n  {}", c.remediation);
    if !c.references.is_empty() {
        println!("\nReferences");
        for r in c.references {
            println!("  {r}");
        }
    }
    0
}

fn list_signatures(dirs: &[PathBuf], json: bool) -> Result<u8> {
    let db = load_db(dirs)?;
    if json {
        let v = serde_json::json!({ "info": db.info(), "entries": db.entries() });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    let info = db.info();
    println!(
        "signature database {} ({} entries, sha256 {})",
        info.version, info.entries, info.digest
    );
    for e in db.entries() {
        let sev = e.severity.map(|s| s.to_string()).unwrap_or_default();
        println!(
            "{:<14} {:<8} {:<9} {}.{}  — {}",
            e.kind,
            format!("{:?}", e.action).to_lowercase(),
            sev,
            e.module,
            e.name,
            e.reason
        );
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
    let engine = Engine::with_defaults()?;
    let report: Report = engine.scan_paths(std::slice::from_ref(path))?;
    let ts = chrono::Local::now()
        .naive_local()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string();
    let value = modelscan::to_value(&report, &path.display().to_string(), args.show_skipped, &ts);
    if let Some(out) = &args.output_file {
        std::fs::write(out, serde_json::to_string(&value)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    match args.reporting_format.as_str() {
        "json" => println!("{}", serde_json::to_string(&value)?),
        _ => {
            println!(
                "No settings file detected at {}/modelscan-settings.toml. Using defaults. \n",
                std::env::current_dir()?.display()
            );
            print!("{}", modelscan::render_console(&value, args.show_skipped));
        }
    }
    // modelscan's own precedence is 3 > 2 > 1; modelgate lets findings dominate (see README).
    Ok(report.exit_code(Severity::Low))
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
fn progress_bar(quiet: bool) -> Option<indicatif::ProgressBar> {
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
    if std::fs::symlink_metadata(&args.path).is_err() {
        eprintln!(
            "modelgate: no such file or directory: {}",
            args.path.display()
        );
        return Ok(USAGE);
    }
    let key = PrivateKey::load(&args.key)?;
    let db = load_db(&args.signatures)?;
    let engine = Engine::new(
        db,
        EngineOptions {
            strict: args.strict,
            jobs: args.jobs,
            ..EngineOptions::default()
        },
    )?;
    let opts = sign::SignOptions {
        signature: args.signature.clone(),
        ignore: args.ignore.clone(),
        ignore_git_paths: !args.no_ignore_git_paths,
        fail_on: args.fail_on,
        scan_attestation: !args.no_scan_attestation,
        threads: args.jobs,
    };
    let pb = progress_bar(args.quiet);
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
    let opts = sign::VerifyOptions {
        signature: args.signature.clone(),
        ignore: args.ignore.clone(),
        require_scan_attestation: args.require_scan,
        threads: args.jobs,
    };
    let pb = progress_bar(args.quiet || args.json);
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
