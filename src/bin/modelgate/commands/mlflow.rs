//! `modelgate mlflow sync`: scans the MLflow model versions that carry no `modelgate.verdict`
//! tag and writes the verdict back (a cron job or CI step catching what webhooks missed), and the
//! registry access `modelgate scan --mlflow-model` shares with it. Scans run in this process with
//! the CLI's engine; fetching, tags and quarantine are the library's (`modelgate::mlflow`), the
//! same the gate uses.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use modelgate::audit::mlflow::MlflowAccess;
use modelgate::config::Config;
use modelgate::engine::Limits;
use modelgate::mlflow::artifacts::FetchLimits;
use modelgate::mlflow::tags::{self, Counts, Outcome, VerdictTags};
use modelgate::mlflow::{Auth, Client, MlflowError, ModelUri, VersionRef};
use modelgate::report::Report;
use modelgate::{Engine, EngineOptions};

use super::{load_config, load_db};
use crate::args::{ExitThreshold, PolicyArgs};

#[derive(Args)]
pub struct MlflowArgs {
    #[command(subcommand)]
    pub command: MlflowCommand,
}

#[derive(Subcommand)]
pub enum MlflowCommand {
    /// Scan every model version without a modelgate.verdict tag and tag it (passed, failed or
    /// error). Exit 0 when every version passed, 1 when one failed, 2 when one could not be
    /// judged.
    Sync(SyncArgs),
}

#[derive(Args)]
pub struct SyncArgs {
    /// The tracking server (credentials from MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME
    /// and MLFLOW_TRACKING_PASSWORD).
    #[arg(
        long,
        env = "MLFLOW_TRACKING_URI",
        value_name = "URI",
        hide_env_values = true
    )]
    tracking_uri: String,
    /// Only versions of this registered model.
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    /// modelgate.toml: `[policy]`, and `[mlflow] local_roots`, `block_stage_transition`,
    /// `max_files`, `request_timeout_secs`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    policy: PolicyArgs<ExitThreshold>,
    /// Extra signature-database directories.
    #[arg(long, value_name = "DIR")]
    signatures: Vec<PathBuf>,
    /// Also scan again the versions whose verdict is `error`.
    #[arg(long)]
    retry_errors: bool,
    /// List the versions that would be scanned, and scan nothing.
    #[arg(long)]
    dry_run: bool,
}

pub fn run(args: &MlflowArgs) -> Result<u8> {
    match &args.command {
        MlflowCommand::Sync(a) => sync(a),
    }
}

/// How `[mlflow]` (and `[server] max_body_bytes`, the bytes one version may bring in) configure
/// access to a tracking server's model versions; shared by `scan --mlflow-model`, `mlflow sync`
/// and `audit mlflow://…`.
pub fn access(config: Option<&Config>) -> MlflowAccess {
    let m = config.map(|c| c.mlflow.clone()).unwrap_or_default();
    let defaults = MlflowAccess::default();
    MlflowAccess {
        local_roots: m.local_roots,
        limits: FetchLimits {
            max_bytes: config
                .and_then(|c| c.server.max_body_bytes)
                .unwrap_or(defaults.limits.max_bytes),
            max_files: m.max_files.unwrap_or(defaults.limits.max_files),
        },
        timeout: m
            .request_timeout_secs
            .map_or(defaults.timeout, Duration::from_secs),
    }
}

/// One tracking server, as `[mlflow]` configures access to it.
pub struct Registry {
    rt: tokio::runtime::Runtime,
    pub client: Client,
    local_roots: Vec<PathBuf>,
    limits: FetchLimits,
    block: bool,
}

impl Registry {
    pub fn new(tracking_uri: &str, config: Option<&Config>) -> Result<Registry> {
        let access = access(config);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the HTTP runtime")?;
        let client = Client::new(tracking_uri, Auth::from_env(), access.timeout)?;
        Ok(Registry {
            rt,
            client,
            local_roots: access.local_roots,
            limits: access.limits,
            block: config.is_some_and(|c| c.mlflow.block_stage_transition),
        })
    }

    /// The version `uri` names (an alias is resolved now).
    pub fn resolve(&self, uri: &str) -> Result<VersionRef, MlflowError> {
        let parsed = ModelUri::parse(uri)?;
        self.rt.block_on(parsed.resolve(&self.client))
    }

    /// Fetches version `v` into a temporary directory and scans it with `engine`.
    pub fn scan(&self, engine: &Engine, v: &VersionRef) -> Result<Report, MlflowError> {
        let spool = tempfile::Builder::new()
            .prefix("modelgate-mlflow-")
            .tempdir()
            .map_err(|error| MlflowError::Io {
                what: "creating a temporary directory".into(),
                error,
            })?;
        self.rt.block_on(modelgate::mlflow::scan_version(
            engine,
            &self.client,
            v,
            &self.local_roots,
            self.limits,
            spool.path(),
        ))
    }

    /// Writes `tags` to `v` (and quarantines a failed version when configured); the reasons
    /// anything went wrong.
    pub fn write(&self, v: &VersionRef, tags: &VerdictTags) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = self.rt.block_on(tags.write(&self.client, v)) {
            problems.push(format!("the verdict could not be written: {e}"));
        }
        if tags.outcome == Outcome::Failed && self.block {
            if let Err(e) = self.rt.block_on(tags::quarantine(&self.client, v)) {
                problems.push(format!("quarantine failed: {e}"));
            }
        }
        problems
    }
}

/// The verdict tags of a scan (or of its failure) under `policy` and the gate's rules of
/// `config` (`[policy] deny_on_inconclusive`, `deny_on_unscanned`).
pub fn verdict_tags(
    result: Result<&mut Report, &mut MlflowError>,
    policy: &modelgate::policy::Policy,
    config: Option<&Config>,
    signatures_digest: &str,
    run_id: &str,
) -> VerdictTags {
    let rules = config.map(|c| c.policy.clone()).unwrap_or_default();
    let (outcome, counts, reasons) = match result {
        Ok(report) => {
            let (outcome, reasons) = tags::judge(report, policy, &rules);
            (outcome, Counts::of(report), reasons)
        }
        Err(e) => (Outcome::Error, Counts::default(), vec![e.to_string()]),
    };
    VerdictTags {
        outcome,
        counts,
        signatures_digest: signatures_digest.to_owned(),
        report_id: run_id.to_owned(),
        reasons,
    }
}

/// An id for this run, written as `modelgate.report` (the gate writes its request id there).
pub fn run_id() -> String {
    let mut raw = [0u8; 8];
    let _ = getrandom::fill(&mut raw);
    format!("cli-{}", hex::encode(raw))
}

fn sync(args: &SyncArgs) -> Result<u8> {
    let config = load_config(args.config.as_deref())?;
    let registry = Registry::new(&args.tracking_uri, config.as_ref())?;
    let versions = registry.rt.block_on(modelgate::mlflow::unscanned_versions(
        &registry.client,
        args.model.as_deref(),
        args.retry_errors,
    ))?;
    if args.dry_run {
        for v in &versions {
            println!("models:/{}/{}", v.name, v.version);
        }
        return Ok(0);
    }
    let db = load_db(&args.signatures)?;
    let signatures_digest = db.info().digest.clone();
    let engine = Engine::new(
        db,
        EngineOptions {
            limits: Limits::default(),
            ..EngineOptions::default()
        },
    )?;
    let policy = args.policy.policy(config.as_ref());
    let run = run_id();
    let mut worst = 0u8;
    for v in &versions {
        let mut scanned = registry.scan(&engine, v);
        let tags = verdict_tags(
            scanned.as_mut(),
            &policy,
            config.as_ref(),
            &signatures_digest,
            &run,
        );
        let problems = registry.write(v, &tags);
        let c = tags.counts;
        let mut line = format!(
            "models:/{}/{}: {} (critical {}, high {}, medium {}, low {}, info {})",
            v.name,
            v.version,
            tags.outcome.as_str(),
            c.critical,
            c.high,
            c.medium,
            c.low,
            c.info
        );
        for r in tags.reasons.iter().chain(&problems) {
            line.push_str("; ");
            line.push_str(r);
        }
        println!("{}", modelgate::report::text::visible(&line));
        let code = match tags.outcome {
            Outcome::Passed if problems.is_empty() => 0,
            Outcome::Failed => 1,
            _ => 2,
        };
        worst = worst.max(code);
    }
    eprintln!(
        "modelgate mlflow sync: {} version(s) scanned (run {run})",
        versions.len()
    );
    Ok(worst)
}
