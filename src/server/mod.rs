//! `modelgate serve`: the admission gate. An HTTP service (axum on tokio) that answers "may this
//! artifact in?" for registries and pipelines. The server process never parses artifact bytes:
//! uploads are streamed to a directory of their own ([`upload`]) and scanned by worker processes
//! ([`worker`]), so a hostile file can take down a worker but never the gate, and every failure
//! is the verdict `error`, never `admit` ([`verdict`]). Clients authenticate with bearer tokens
//! whose digests the config holds ([`auth`]); [`metrics`] exports Prometheus metrics.

pub mod app;
pub mod auth;
pub mod hot;
pub mod integrations;
pub mod metrics;
pub mod unpack;
pub mod upload;
pub mod verdict;
pub mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::policy::Policy;

use app::{App, RequestLimits};
use verdict::GatePolicy;
use worker::{Pool, PoolOptions, WorkerLimits};

/// Why the gate could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("invalid listen address {0:?}: {1}")]
    Listen(String, std::net::AddrParseError),
    #[error("binding {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("starting scan workers: {0}")]
    Workers(#[from] worker::WorkerFailure),
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
    #[error("loading the TLS certificate and key: {0}")]
    Tls(std::io::Error),
    #[error("[server] tls_cert and tls_key must be given together")]
    TlsHalf,
    #[error("opening the store: {0}")]
    Store(crate::store::StoreError),
    #[error("loading the signature database or a trusted key: {0}")]
    Signatures(String),
    #[error("setting up the MLflow integration: {0}")]
    Mlflow(#[from] integrations::mlflow::SetupError),
}

/// Everything `modelgate serve` needs beyond the config file.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Overrides `[server] listen`.
    pub listen: Option<String>,
    /// The executable workers are started from, and the arguments that make it a worker.
    pub worker_program: PathBuf,
    pub worker_args: Vec<String>,
    /// Extra environment for workers (the test suite's fault switch).
    pub worker_env: Vec<(String, String)>,
    /// Extra signature-database directories (the workers get the same).
    pub signatures: Vec<PathBuf>,
    /// How long in-flight requests may take to finish after SIGTERM or SIGINT.
    pub drain_timeout: Duration,
}

/// The effective `[server]` values, defaults filled in.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub workers: usize,
    pub slots: usize,
    pub limits: RequestLimits,
    pub worker_limits: WorkerLimits,
    pub spool: PathBuf,
}

impl Settings {
    pub fn of(config: &Config, listen: Option<&str>) -> Self {
        let s = &config.server;
        let workers = s.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        });
        Settings {
            listen: listen
                .map(str::to_owned)
                .or_else(|| s.listen.clone())
                .unwrap_or_else(|| "127.0.0.1:8080".to_owned()),
            workers,
            slots: s.max_concurrent_scans.unwrap_or(workers.saturating_mul(2)),
            limits: RequestLimits {
                max_body_bytes: s.max_body_bytes.unwrap_or(8 << 30),
                memory_upload_bytes: s
                    .memory_upload_bytes
                    .unwrap_or(upload::DEFAULT_MEMORY_LIMIT),
                scan_timeout: Duration::from_secs(s.scan_timeout_secs.unwrap_or(600)),
                read_timeout: Duration::from_secs(s.read_timeout_secs.unwrap_or(30)),
            },
            worker_limits: WorkerLimits {
                max_memory_bytes: s
                    .worker_memory_bytes
                    .unwrap_or(WorkerLimits::default().max_memory_bytes),
                ..WorkerLimits::default()
            },
            spool: s.spool_dir.clone().unwrap_or_else(std::env::temp_dir),
        }
    }
}

/// The gate's policy from `[policy]`.
pub fn gate_policy(config: &Config) -> (GatePolicy, Policy) {
    let policy = config.policy(None, crate::policy::DEFAULT_FAIL_ON);
    (config.policy.admission(policy.fail_on), policy)
}

/// Runs the gate until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish
/// (at most `drain_timeout`) and returns. `on_ready` receives the bound address (port 0 picks a
/// free one, which tests use).
pub async fn serve(
    config: &Config,
    opts: ServeOptions,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let settings = Settings::of(config, opts.listen.as_deref());
    let addr: SocketAddr = settings
        .listen
        .parse()
        .map_err(|e| ServeError::Listen(settings.listen.clone(), e))?;
    let pool = Pool::start(PoolOptions {
        program: opts.worker_program.clone(),
        args: opts.worker_args.clone(),
        workers: settings.workers,
        jobs_per_worker: 1000,
        limits: settings.worker_limits,
        env: opts.worker_env.clone(),
    })
    .await?;
    let url = config
        .store
        .url
        .clone()
        .unwrap_or_else(|| "sqlite://modelgate.db".to_owned());
    let store = crate::store::AsyncStore::open(&url)
        .await
        .map_err(ServeError::Store)?;
    let db = crate::signatures::SignatureDb::load(
        &opts
            .signatures
            .iter()
            .map(PathBuf::as_path)
            .collect::<Vec<_>>(),
    )
    .map_err(|e| ServeError::Signatures(e.to_string()))?;
    let mut trusted_keys = Vec::new();
    for path in &config.signing.trusted_keys {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| ServeError::Signatures(format!("{}: {e}", path.display())))?;
        crate::sign::PublicKey::from_pem(&pem)
            .map_err(|e| ServeError::Signatures(format!("{}: {e}", path.display())))?;
        trusted_keys.push(pem);
    }
    let mut app = App::new(
        config,
        &settings,
        pool,
        store.clone(),
        db.info().digest.clone(),
        trusted_keys,
    );
    app.mlflow = integrations::mlflow::Mlflow::from_config(config, settings.limits.max_body_bytes)?
        .map(Arc::new);
    let app = Arc::new(app);
    integrations::mlflow::spawn_reconcile(&app);
    let handle = axum_server::Handle::new();
    let service = app::router(app).into_make_service();
    let server = {
        let handle = handle.clone();
        let tls = match (&config.server.tls_cert, &config.server.tls_key) {
            (Some(cert), Some(key)) => Some(
                axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .map_err(ServeError::Tls)?,
            ),
            (None, None) => None,
            _ => return Err(ServeError::TlsHalf),
        };
        async move {
            match tls {
                Some(tls) => {
                    axum_server::bind_rustls(addr, tls)
                        .handle(handle)
                        .serve(service)
                        .await
                }
                None => axum_server::bind(addr).handle(handle).serve(service).await,
            }
        }
    };
    let server = tokio::spawn(server);
    let Some(bound) = handle.listening().await else {
        // The server ended before it listened: its result says why.
        return match server.await {
            Ok(Err(e)) => Err(ServeError::Bind(addr, e)),
            _ => Err(ServeError::Bind(
                addr,
                std::io::Error::other("not listening"),
            )),
        };
    };
    on_ready(bound);
    shutdown_signal().await;
    // Stop accepting; in-flight requests get `drain_timeout` to finish.
    handle.graceful_shutdown(Some(opts.drain_timeout));
    let served = match server.await {
        Ok(r) => r.map_err(ServeError::Io),
        Err(e) => Err(ServeError::Io(std::io::Error::other(e.to_string()))),
    };
    // Every answered request has its row; commit what is queued before exiting.
    store.close().await.map_err(ServeError::Store)?;
    served
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the gate still serves; it stops when killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
