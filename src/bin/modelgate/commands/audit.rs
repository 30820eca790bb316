//! `modelgate audit` (audit sources into one report, incrementally, resumably, in shards) and
//! `modelgate report merge` (shard reports into one).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};

use modelgate::audit::{self, AuditFormat, AuditOptions, AuditReport, Shard, SinceDiff, Tally};
use modelgate::engine::Limits;
use modelgate::{Engine, EngineOptions};

use super::{exit_after_write, load_db, write_out};
use crate::args::{parse_jobs, ExitThreshold, LimitArgs, PolicyArgs, RegistryArgs};

#[derive(Args)]
pub struct AuditArgs {
    /// Directories or files (Hugging Face caches, MLflow stores, DVC caches, plain folders) and
    /// registries (oci://HOST[/PREFIX]; mlflow://HOST[:PORT][/PREFIX], mlflows:// for HTTPS: every
    /// registered model version of an MLflow tracking server).
    #[arg(required = true, value_name = "SOURCE")]
    sources: Vec<String>,
    /// The cache: a file path (SQLite) or a store URL (sqlite://…, postgres://…) [default:
    /// $MODELGATE_AUDIT_CACHE, else $XDG_CACHE_HOME/modelgate/audit.db, else
    /// ~/.cache/modelgate/audit.db].
    #[arg(long, value_name = "DB")]
    cache: Option<String>,
    /// Audit shard K of N (0-based), e.g. 0/4. Without it, a Slurm job array or a Kubernetes
    /// Indexed Job (JOB_COMPLETION_INDEX with --shards) selects the shard.
    #[arg(long, value_name = "K/N")]
    shard: Option<String>,
    /// The shard count of a Kubernetes Indexed Job (its completions).
    #[arg(long, value_name = "N", env = "MODELGATE_SHARDS")]
    shards: Option<u32>,
    /// Report format.
    #[arg(long, short = 'f', value_enum, default_value = "json")]
    format: AuditFormatArg,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// A previous audit's JSON report: add what changed since (new findings, fixed, still open,
    /// new and removed artifacts).
    #[arg(long, value_name = "PREVIOUS.json")]
    since: Option<PathBuf>,
    /// Worker threads (default: all cores; at most 8 per core).
    #[arg(long, short = 'j', value_parser = parse_jobs)]
    jobs: Option<usize>,
    #[command(flatten)]
    policy: PolicyArgs<ExitThreshold>,
    /// modelgate.toml: `[policy]`, `[[registries]]` (credentials for oci:// sources) and
    /// `[mlflow]` (local_roots, max_files, request_timeout_secs for mlflow:// sources).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Extra signature files (*.toml) that extend or override the built-in database.
    #[arg(long, value_name = "DIR")]
    signatures: Vec<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Artifacts per committed batch (what a killed run can lose at most).
    #[arg(long, value_name = "N", default_value_t = audit::DEFAULT_BATCH)]
    batch: usize,
    /// No progress on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    exit: ExitZeroArg,
    #[command(flatten)]
    limits: LimitArgs,
}

/// `--format` values of `audit` ([`AuditFormat`]).
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum AuditFormatArg {
    Json,
    Sarif,
    Markdown,
    Html,
}

impl From<AuditFormatArg> for AuditFormat {
    fn from(f: AuditFormatArg) -> Self {
        match f {
            AuditFormatArg::Json => AuditFormat::Json,
            AuditFormatArg::Sarif => AuditFormat::Sarif,
            AuditFormatArg::Markdown => AuditFormat::Markdown,
            AuditFormatArg::Html => AuditFormat::Html,
        }
    }
}

#[derive(Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    command: ReportCommand,
}

#[derive(Subcommand)]
pub enum ReportCommand {
    /// Merge the shard reports of one audit (refused when shards come from different signature
    /// databases, policies or shard counts, or one is missing).
    Merge {
        /// The shards' JSON reports.
        #[arg(required = true, value_name = "REPORT.json")]
        reports: Vec<PathBuf>,
        /// Write the merged report to FILE instead of stdout.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// Report format.
        #[arg(long, short = 'f', value_enum, default_value = "json")]
        format: AuditFormatArg,
        /// A previous audit's JSON report: add what changed since.
        #[arg(long, value_name = "PREVIOUS.json")]
        since: Option<PathBuf>,
        /// The exit status, as the audit's (the shards already applied their severity overrides).
        #[command(flatten)]
        policy: PolicyArgs<ExitThreshold>,
        #[command(flatten)]
        exit: ExitZeroArg,
    },
}

/// `--exit-zero`: batch schedulers (a Slurm array task, a Kubernetes Job's pod) treat any
/// non-zero exit as a failed task, which would cancel the merge and retry the shard, although a
/// report with findings is the audit doing its job. The verdict stays in the report; errors
/// (nothing written) still exit non-zero.
#[derive(Args, Clone, Copy)]
pub struct ExitZeroArg {
    /// Exit 0 once the report is written, whatever its verdict (findings, failed or nothing
    /// scanned); errors still exit 2. For batch schedulers.
    #[arg(long)]
    exit_zero: bool,
}

impl ExitZeroArg {
    /// The exit code for a written report with verdict code `code`.
    fn code(self, code: u8) -> u8 {
        if self.exit_zero {
            0
        } else {
            code
        }
    }
}

/// The default cache database (see `--cache`).
fn default_cache() -> PathBuf {
    if let Some(p) = std::env::var_os("MODELGATE_AUDIT_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("modelgate").join("audit.db")
}

/// The store URL of `--cache` (a path is a SQLite file, its directory created).
fn cache_url(arg: Option<&str>) -> Result<String> {
    match arg {
        Some(url) if url.contains("://") => Ok(url.to_owned()),
        other => {
            let path = other.map_or_else(default_cache, PathBuf::from);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating the cache directory {}", dir.display()))?;
            }
            Ok(audit::sqlite_url(&path))
        }
    }
}

fn read_report(path: &Path) -> Result<AuditReport> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    AuditReport::from_json(&text).map_err(|e| {
        audit::AuditError::BadReport {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
        .into()
    })
}

pub fn run(args: &AuditArgs) -> Result<u8> {
    let format = AuditFormat::from(args.format);
    let db = load_db(&args.signatures)?;
    let config = super::load_config(args.config.as_deref())?;
    let policy = args.policy.policy(config.as_ref());
    let env = |k: &str| std::env::var(k).ok();
    let shard = Shard::select(args.shard.as_deref(), args.shards, &env)?;
    let previous = args.since.as_deref().map(read_report).transpose()?;
    let mut image = args.registry.setup()?;
    if let Some(c) = &config {
        image = c.registry_options(image, &args.sources);
    }
    let engine = Engine::new(
        db,
        EngineOptions {
            limits: args.limits.apply(Limits::default()),
            ..EngineOptions::default()
        },
    )?;
    let opts = AuditOptions {
        sources: args.sources.clone(),
        shard,
        cache: cache_url(args.cache.as_deref())?,
        policy,
        image,
        mlflow: super::mlflow::access(config.as_ref()),
        batch: args.batch.max(1),
        progress: (!args.quiet).then(progress),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("starting the worker threads")?;
    let (mut report, verdict) = pool.install(|| audit::run(&engine, &opts))?;
    if let (Some(prev), Some(path)) = (&previous, &args.since) {
        report.audit.since = Some(SinceDiff::between(
            &path.display().to_string(),
            &prev.report,
            &report.report,
        ));
    }
    let rendered = audit::render::render(&report, format)?;
    if !args.quiet {
        let r = &report.audit.run;
        eprintln!(
            "modelgate audit: shard {shard}: {} artifacts, {} findings; {} hashed, {} unchanged by stamp, {} from the verdict cache, {} scanned, {} resumed, {:.1} s",
            report.audit.artifacts,
            report.report.summary.total_findings,
            r.hashed,
            r.stamp_hits,
            r.cache_hits,
            r.scanned,
            r.resumed,
            r.elapsed_ms as f64 / 1000.0
        );
        if let Some(note) = &r.cache_rebuilt {
            eprintln!("modelgate audit: the cache was damaged: {note}");
        }
    }
    exit_after_write(
        args.exit.code(verdict.exit_code()),
        write_out(args.output.as_ref(), &rendered),
        args.output.is_some(),
    )
}

pub fn run_report(args: &ReportArgs) -> Result<u8> {
    match &args.command {
        ReportCommand::Merge {
            reports,
            output,
            format,
            since,
            policy,
            exit,
        } => {
            let mut read = Vec::with_capacity(reports.len());
            for p in reports {
                read.push((p.display().to_string(), read_report(p)?));
            }
            let mut merged = audit::merge::merge(read)?;
            if let Some(path) = since {
                let prev = read_report(path)?;
                merged.audit.since = Some(SinceDiff::between(
                    &path.display().to_string(),
                    &prev.report,
                    &merged.report,
                ));
            }
            let rendered = audit::render::render(&merged, AuditFormat::from(*format))?;
            let code = exit.code(merged.report.exit_code(policy.policy(None).fail_on));
            exit_after_write(
                code,
                write_out(output.as_ref(), &rendered),
                output.is_some(),
            )
        }
    }
}

/// Progress on stderr: a bar on a terminal, else a plain line every 10 seconds (and at the end)
/// for a batch scheduler's log.
fn progress() -> audit::OnProgress {
    let started = Instant::now();
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} artifacts, {msg}, ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        return Arc::new(move |t: &Tally| {
            bar.set_length(t.listed);
            bar.set_position(t.done);
            let secs = started.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!(
                "{} MiB ({:.0} artifacts/s), {} findings, {} cache hits",
                t.bytes_done / (1024 * 1024),
                t.done as f64 / secs,
                t.findings,
                t.cache_hits
            ));
            if t.done >= t.listed {
                bar.finish_and_clear();
            }
        });
    }
    let last = std::sync::Mutex::new(None::<Instant>);
    Arc::new(move |t: &Tally| {
        let Ok(mut last) = last.lock() else { return };
        let due = last.is_none_or(|l| l.elapsed() >= Duration::from_secs(10));
        if !due && t.done < t.listed {
            return;
        }
        *last = Some(Instant::now());
        let secs = started.elapsed().as_secs_f64().max(0.001);
        let rate = t.done as f64 / secs;
        let eta = if rate > 0.0 {
            format!("{:.0} s", (t.listed.saturating_sub(t.done)) as f64 / rate)
        } else {
            "?".to_owned()
        };
        eprintln!(
            "modelgate audit: {}/{} artifacts, {} MiB, {rate:.0} artifacts/s, ETA {eta}, {} findings, {} cache hits, {} hashed",
            t.done,
            t.listed,
            t.bytes_done / (1024 * 1024),
            t.findings,
            t.cache_hits,
            t.hashed
        );
    })
}
