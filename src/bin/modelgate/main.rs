//! The `modelgate` command line: a thin clap front end over the library. Argument parsing is in
//! [`args`], one module per command in [`commands`]; errors become `anyhow` here and nowhere
//! else (the library's errors are typed).
//!
//! A binary of its own directory (not `src/cli/` inside the library's tree) so nothing the
//! library compiles can reach clap or anyhow: the gate and the audit link the library only.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};

use commands::USAGE;

/// mimalloc instead of the system allocator: scanning allocates and frees many short-lived
/// buffers per file (read buffers, inflate windows, walker tables), which glibc malloc serves
/// with consolidation passes and fresh page faults. Measured with benches/compare_peers.sh:
/// dense pickle 90 -> 68 ms, 2,000 small files 21.5 -> 19.5 ms.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// Dispatches to the command; its result is the exit code.
fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Scan(args) => commands::scan::run(&args),
        Command::Packages(args) => commands::packages::run(&args),
        Command::Explain { code } => Ok(commands::explain::run(code.as_deref())?),
        Command::Signatures { signatures, json } => commands::signatures::run(&signatures, json),
        Command::Convert(args) => commands::convert::run(&args),
        Command::Modelscan(args) => commands::modelscan::run(args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "modelgate",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
        Command::Keygen(args) => commands::keygen::run(&args),
        Command::Sign(args) => commands::sign::run(&args),
        Command::Verify(args) => Ok(commands::verify::run(&args)),
        Command::Worker(args) => commands::worker::run(&args),
        Command::Serve(args) => commands::serve::run(&args),
        Command::Audit(args) => commands::audit::run(&args),
        Command::Report(args) => commands::audit::run_report(&args),
        Command::Mlflow(args) => commands::mlflow::run(&args),
    }
}

use commands::{
    audit::{AuditArgs, ReportArgs},
    convert::ConvertArgs,
    keygen::KeygenArgs,
    mlflow::MlflowArgs,
    modelscan::ModelscanArgs,
    packages::PackagesArgs,
    scan::ScanArgs,
    serve::ServeArgs,
    sign::SignArgs,
    verify::VerifyArgs,
    worker::WorkerArgs,
};

#[derive(Parser)]
#[command(
    name = "modelgate",
    version,
    about = "Scan, convert and sign ML model files without executing them"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// Run the admission gate: an authenticated HTTP scanning service.
    Serve(ServeArgs),
    /// Audit a model registry or model stores: incremental, resumable, sharded.
    Audit(AuditArgs),
    /// Work with audit reports (merge shard reports).
    Report(ReportArgs),
    /// MLflow model registry: scan registered model versions and tag them with the verdict.
    Mlflow(MlflowArgs),
    /// One scan worker of `modelgate serve` (started by the server, not by hand).
    #[command(hide = true)]
    Worker(WorkerArgs),
}
