//! `modelgate modelscan` (and the binary invoked as `modelscan`): a drop-in for the modelscan
//! CLI, with its options, report formats and exit codes.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

use modelgate::policy::{Verdict, DEFAULT_FAIL_ON};
use modelgate::report::modelscan;
use modelgate::Report;

use super::{exit_after_write, USAGE};

#[derive(clap::Args)]
pub struct ModelscanArgs {
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

pub fn run(args: ModelscanArgs) -> Result<u8> {
    let scan = match args.sub {
        Some(ModelscanSub::Scan(s)) => s,
        None => args.scan,
    };
    modelscan_compat(&scan)
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
    let text = match &settings {
        Some(file) => Some(
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?,
        ),
        None => None,
    };
    let named = settings
        .as_ref()
        .zip(text.as_deref())
        .map(|(f, t)| (f.display().to_string(), t));
    let report: Report = modelgate::run::modelscan(path, named)?;
    let ts = modelscan::timestamp_now();
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
        Verdict::of(&report, DEFAULT_FAIL_ON).exit_code(),
        written,
        args.output_file.is_some(),
    )
}
