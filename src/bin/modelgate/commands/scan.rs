//! `modelgate scan`: scan targets, apply the policy, render the report, exit with the verdict.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};

use modelgate::engine::Limits;
use modelgate::report::{text::TextOptions, OutputFormat, RenderOptions};
use modelgate::{Engine, EngineOptions};

use super::{exit_after_write, load_db, missing_target, write_out, USAGE};
use crate::args::{parse_jobs, ExitThreshold, FormatArg, ImageArgs, LimitArgs, PolicyArgs};

#[derive(clap::Args)]
pub struct ScanArgs {
    /// Files, directories, image layouts, image tarballs or oci://HOST/REPO[:TAG|@DIGEST].
    /// Paths may be any bytes the file system allows (not only UTF-8).
    #[arg(
        required_unless_present = "mlflow_model",
        conflicts_with = "mlflow_model"
    )]
    paths: Vec<std::ffi::OsString>,
    /// Scan a registered MLflow model version instead: models:/NAME/VERSION or
    /// models:/NAME@ALIAS, fetched from --tracking-uri (`[mlflow] local_roots` of --config for
    /// local artifact stores).
    #[arg(long, value_name = "MODEL_URI")]
    mlflow_model: Option<String>,
    /// The MLflow tracking server for --mlflow-model.
    #[arg(
        long,
        env = "MLFLOW_TRACKING_URI",
        value_name = "URI",
        hide_env_values = true
    )]
    tracking_uri: Option<String>,
    /// With --mlflow-model: write the verdict back to the version as modelgate.* tags.
    #[arg(long, requires = "mlflow_model")]
    mlflow_tag: bool,
    #[command(flatten)]
    image: ImageArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "text")]
    format: FormatArg,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    #[command(flatten)]
    policy: PolicyArgs<ExitThreshold>,
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

pub fn run(args: &ScanArgs) -> Result<u8> {
    let format = OutputFormat::from(args.format);
    let db = load_db(&args.signatures)?;
    let progress = (!args.quiet && std::io::stderr().is_terminal()).then(progress_bar);
    let opts = EngineOptions {
        strict: args.strict,
        jobs: args.jobs,
        progress,
        hash_artifacts: format.needs_hashes(),
        limits: args.limits.apply(Limits::default()),
    };
    let signatures_digest = db.info().digest.clone();
    let engine = Engine::new(db, opts)?;
    if let Some(t) = missing_target(&args.paths) {
        eprintln!("modelgate: no such file or directory: {t}");
        return Ok(USAGE);
    }
    let config = args.image.load_config()?;
    let policy = args.policy.policy(config.as_ref());
    let (report, verdict) = if let Some(uri) = &args.mlflow_model {
        let Some(tracking) = &args.tracking_uri else {
            eprintln!("modelgate: --mlflow-model needs --tracking-uri (or MLFLOW_TRACKING_URI)");
            return Ok(USAGE);
        };
        let registry = super::mlflow::Registry::new(tracking, config.as_ref())?;
        let version = registry.resolve(uri)?;
        let mut scanned = registry.scan(&engine, &version);
        if args.mlflow_tag {
            let tags = super::mlflow::verdict_tags(
                scanned.as_mut(),
                &policy,
                config.as_ref(),
                &signatures_digest,
                &super::mlflow::run_id(),
            );
            for problem in registry.write(&version, &tags) {
                eprintln!("modelgate: {problem}");
            }
        }
        let mut report = scanned.with_context(|| format!("scanning {uri}"))?;
        let verdict = policy.judge(&mut report);
        (report, verdict)
    } else {
        let (img_opts, mut allow) = args.image.setup(config.as_ref())?;
        let allow_ref = (!allow.is_empty()).then_some(&mut allow);
        let mut report = modelgate::run::scan(&engine, &args.paths, &img_opts, allow_ref)?;
        let verdict = policy.judge(&mut report);
        (report, verdict)
    };
    let color = args.output.is_none()
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let rendered = format.render(
        &report,
        RenderOptions {
            text: TextOptions {
                color,
                show_skipped: args.show_skipped,
            },
            inventory: false,
        },
    );
    exit_after_write(
        verdict.exit_code(),
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
