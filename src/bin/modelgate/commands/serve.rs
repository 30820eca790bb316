//! `modelgate serve`: the admission gate (see `modelgate::server`), and `modelgate serve token`,
//! which makes a new bearer token and prints the `[[tokens]]` stanza that admits it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use modelgate::config::Config;
use modelgate::server::{self, ServeOptions};

#[derive(Args)]
pub struct ServeArgs {
    /// The configuration file (`[server]`, `[policy]`, `[[tokens]]`, `[store]`, …).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen address, overriding `[server] listen` (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Extra signature-database directories for the scan workers.
    #[arg(long, value_name = "DIR")]
    pub signatures: Vec<PathBuf>,
    /// The store URL, overriding `[store] url` (for a secret kept out of the config file).
    #[arg(
        long,
        env = "MODELGATE_STORE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub store_url: Option<String>,
    /// Validate the configuration and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Seconds in-flight requests may take to finish after SIGTERM or SIGINT.
    #[arg(long, default_value_t = 30)]
    pub drain_timeout: u64,
    #[command(subcommand)]
    pub command: Option<ServeCommand>,
}

#[derive(Subcommand)]
pub enum ServeCommand {
    /// Print a new random token and the `[[tokens]]` stanza (with its SHA-256) that admits it.
    Token {
        /// The client's name, written to the audit trail with its requests.
        name: String,
        /// What it may call.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<ScopeArg>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ScopeArg {
    Scan,
    Verify,
    Decisions,
    Metrics,
    Harbor,
    Admission,
}

impl ScopeArg {
    fn name(self) -> &'static str {
        match self {
            ScopeArg::Scan => "scan",
            ScopeArg::Verify => "verify",
            ScopeArg::Decisions => "decisions",
            ScopeArg::Metrics => "metrics",
            ScopeArg::Harbor => "harbor",
            ScopeArg::Admission => "admission",
        }
    }
}

pub fn run(args: &ServeArgs) -> Result<u8> {
    if let Some(ServeCommand::Token { name, scopes }) = &args.command {
        let (token, digest) = server::auth::new_token()?;
        let scopes: Vec<String> = scopes.iter().map(|s| format!("{:?}", s.name())).collect();
        println!("# token for {name} (shown once; store it as a secret):\n# {token}\n");
        println!(
            "[[tokens]]\nname = {name:?}\nsha256 = \"{digest}\"\nscopes = [{}]",
            scopes.join(", ")
        );
        return Ok(0);
    }
    let mut config = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(url) = &args.store_url {
        config.store.url = Some(url.clone());
    }
    let settings = server::Settings::of(&config, args.listen.as_deref());
    if args.check_config {
        // [mlflow]'s secret comes from the environment: check it is there too.
        server::integrations::mlflow::Mlflow::from_config(&config, 0)?;
        println!(
            "configuration valid: listen {}, {} worker(s), {} token(s)",
            settings.listen,
            settings.workers,
            config.tokens.len()
        );
        return Ok(0);
    }
    if config.tokens.is_empty() {
        eprintln!(
            "modelgate serve: no [[tokens]] configured: every request except /healthz and /readyz will be refused (make one with `modelgate serve token NAME --scopes scan`)"
        );
    }
    let mut worker_args = vec!["worker".to_owned()];
    for d in &args.signatures {
        worker_args.push("--signatures".into());
        worker_args.push(d.display().to_string());
    }
    let opts = ServeOptions {
        listen: args.listen.clone(),
        worker_program: std::env::current_exe().context("locating the modelgate executable")?,
        worker_args,
        worker_env: std::env::vars()
            .filter(|(k, _)| k == "MODELGATE_TEST_FAULTS")
            .collect(),
        drain_timeout: Duration::from_secs(args.drain_timeout),
        signatures: args.signatures.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let scheme = if config.server.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    runtime.block_on(server::serve(&config, opts, |addr| {
        eprintln!("modelgate serve: listening on {scheme}://{addr}");
    }))?;
    Ok(0)
}
