//! `modelgate worker` (hidden): one scan worker of `modelgate serve`. It limits its own address
//! space and CPU time, then answers scan jobs on stdin with reports on stdout until stdin closes
//! (see `modelgate::server::worker`). Never run by hand.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use modelgate::server::worker::{self, WorkerLimits};
use modelgate::{Engine, EngineOptions};

use super::load_db;

#[derive(Args)]
pub struct WorkerArgs {
    /// Extra signature-database directories (the server's `--signatures`).
    #[arg(long, value_name = "DIR")]
    pub signatures: Vec<PathBuf>,
    /// Address space for scanning, in bytes, on top of what the ready worker has mapped.
    #[arg(long)]
    pub max_memory: u64,
    /// RLIMIT_CPU in seconds.
    #[arg(long)]
    pub max_cpu_seconds: u64,
}

pub fn run(args: &WorkerArgs) -> Result<u8> {
    let engine = Engine::new(load_db(&args.signatures)?, EngineOptions::default())?;
    // Start the scan thread pool before the limits: thread stacks are reserved up front.
    let _ = rayon::current_num_threads();
    rayon::broadcast(|_| ());
    worker::apply_limits(WorkerLimits {
        max_memory_bytes: args.max_memory,
        max_cpu_seconds: args.max_cpu_seconds,
    })
    .context("setting the worker's resource limits")?;
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    worker::serve(&engine, stdin, stdout)?;
    Ok(0)
}
