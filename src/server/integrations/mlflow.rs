//! `POST /integrations/mlflow/webhook`: MLflow's model registry calls the gate when a model
//! version is created; the gate scans the version's files and writes the verdict back as tags.
//!
//! A delivery is believed only when its signature matches the shared secret, its signed
//! timestamp is fresh and its delivery id was never recorded before (in the store, so across
//! restarts and replicas); anything else is refused with 401 (or 409 for a replay) and an audit
//! row. MLflow waits for the answer with a timeout and never delivers again after a 4xx, so the
//! gate answers 202 as soon as the delivery is recorded and scans afterwards: the files are
//! fetched into the spool (bounded by `[server] max_body_bytes` and `[mlflow] max_files`),
//! scanned by a worker process under the gate's policy, the tags written (`modelgate.verdict`
//! last), the version quarantined when `block_stage_transition` asks, and one audit row written
//! with route `mlflow` and the request id the 202 carried. The gate's own tag writes come back as
//! `model_version_tag.set` deliveries; only `model_version.created` starts a scan, so they end
//! there.
//!
//! With `[mlflow] block_stage_transition`, a failed version is quarantined (its aliases removed,
//! the alias `quarantined` set), and a `model_version_alias.created` delivery that points an
//! alias at a failed version has that alias removed again.
//!
//! MLflow delivers each event once, fire-and-forget: a version registered while the gate was
//! down, or whose scan was cut short, has no `modelgate.verdict` tag. The reconcile loop
//! (`[mlflow] reconcile_secs`) and `modelgate mlflow sync` find and scan those.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde_json::json;

use crate::config::Config;
use crate::mlflow::artifacts::{self, FetchLimits};
use crate::mlflow::tags::{self, Counts, Outcome, VerdictTags};
use crate::mlflow::webhook::{self, Rejection};
use crate::mlflow::{Auth, Client, VersionRef};
use crate::store::{Decision, SeverityCounts};

use super::super::app::{ApiError, App, RequestId};
use super::super::verdict::{self, GateVerdict};
use super::super::worker::Target;

/// The route, and the `route` of its audit rows.
pub const PATH: &str = "/integrations/mlflow/webhook";
const ROUTE: &str = "mlflow";
/// The store's name for MLflow's delivery ids.
const SOURCE: &str = "mlflow";
/// MLflow's payloads are small; anything larger is not one.
const MAX_BODY: usize = 1 << 20;

/// Why the integration could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("[mlflow] secret_env names {0}, which is not set or empty")]
    Secret(String),
    #[error("[mlflow] {0}")]
    Client(crate::mlflow::MlflowError),
}

/// The integration's state, built once from `[mlflow]`.
pub struct Mlflow {
    pub client: Client,
    secret: zeroize::Zeroizing<Vec<u8>>,
    tolerance_secs: u64,
    reconcile: Option<Duration>,
    block: bool,
    local_roots: Vec<PathBuf>,
    limits: FetchLimits,
    /// Versions being scanned by this process (a webhook and the reconcile loop may meet).
    in_flight: Mutex<HashSet<VersionRef>>,
}

impl Mlflow {
    /// The integration `config` asks for (`None` when `[mlflow]` is not enabled). `max_bytes`
    /// bounds what one version may bring in.
    pub fn from_config(config: &Config, max_bytes: u64) -> Result<Option<Mlflow>, SetupError> {
        let m = &config.mlflow;
        if !m.enabled {
            return Ok(None);
        }
        let var = m.secret_env.clone().unwrap_or_default();
        let secret = std::env::var(&var)
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| SetupError::Secret(var.clone()))?;
        let client = Client::new(
            m.tracking_uri.as_deref().unwrap_or_default(),
            Auth::from_env(),
            Duration::from_secs(m.request_timeout_secs.unwrap_or(30)),
        )
        .map_err(SetupError::Client)?;
        Ok(Some(Mlflow {
            client,
            secret: zeroize::Zeroizing::new(secret.into_bytes()),
            tolerance_secs: m.timestamp_tolerance_secs.unwrap_or(300),
            reconcile: m.reconcile_secs.filter(|s| *s > 0).map(Duration::from_secs),
            block: m.block_stage_transition,
            local_roots: m.local_roots.clone(),
            limits: FetchLimits {
                max_bytes,
                max_files: m.max_files.unwrap_or(10_000),
            },
            in_flight: Mutex::new(HashSet::new()),
        }))
    }

    /// Marks `v` as being scanned; false when it already is.
    fn claim(&self, v: &VersionRef) -> bool {
        self.in_flight.lock().is_ok_and(|mut s| s.insert(v.clone()))
    }

    fn release(&self, v: &VersionRef) {
        if let Ok(mut s) = self.in_flight.lock() {
            s.remove(v);
        }
    }
}

/// The route (answers 404 unless `[mlflow]` is enabled).
pub fn router() -> Router<Arc<App>> {
    Router::new().route(PATH, post(receive))
}

/// Starts the reconcile loop when `[mlflow] reconcile_secs` is set.
pub fn spawn_reconcile(app: &Arc<App>) {
    let Some(m) = app.mlflow.clone() else {
        return;
    };
    let Some(every) = m.reconcile else {
        return;
    };
    let app = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // A tracking server that cannot be reached now is tried again at the next tick.
            let Ok(versions) = crate::mlflow::unscanned_versions(&m.client, None, false).await
            else {
                continue;
            };
            for v in versions {
                judge_version(app.clone(), m.clone(), v, super::super::app::request_id()).await;
            }
        }
    });
}

async fn receive(
    State(app): State<Arc<App>>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(m) = app.mlflow.clone() else {
        return ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such route").into_response();
    };
    let started = Instant::now();
    match accept(&app, &m, &headers, body).await {
        Ok(Accepted::Scan(v)) => {
            let answer = json!({
                "accepted": true,
                "request_id": request_id,
                "name": v.name,
                "version": v.version,
            });
            tokio::spawn(judge_version(app.clone(), m, v, request_id));
            (StatusCode::ACCEPTED, Json(answer)).into_response()
        }
        Ok(Accepted::Alias(a)) => {
            tokio::spawn(enforce_quarantine(app.clone(), m, a, request_id.clone()));
            (
                StatusCode::ACCEPTED,
                Json(json!({"accepted": true, "request_id": request_id})),
            )
                .into_response()
        }
        Ok(Accepted::Ignored(event)) => {
            Json(json!({"accepted": true, "ignored": event})).into_response()
        }
        Err(refusal) => {
            let (status, code, message) = refusal;
            let mut row = Decision::new("gate", &request_id, ROUTE, GateVerdict::Deny);
            if status.is_server_error() {
                row.verdict = GateVerdict::Error;
            }
            row.client = Some(SOURCE.to_owned());
            row.signatures_digest.clone_from(&app.signatures_digest);
            row.policy_digest.clone_from(&app.policy_digest);
            row.duration_ms = millis(started);
            row.reasons = serde_json::to_string(&[
                format!("webhook delivery refused: {message}"),
                format!("HTTP {}", status.as_u16()),
            ])
            .unwrap_or_else(|_| "[]".into());
            if let Err(e) = app.store.record_decision(row).await {
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "audit-unavailable",
                    format!("the decision could not be recorded: {e}"),
                )
                .into_response();
            }
            ApiError::new(status, code, message).into_response()
        }
    }
}

enum Accepted {
    Scan(VersionRef),
    /// An alias set on a version (checked against its verdict when quarantining).
    Alias(webhook::AliasRef),
    Ignored(String),
}

type Refusal = (StatusCode, &'static str, String);

/// Reads, authenticates and records one delivery.
async fn accept(
    app: &App,
    m: &Mlflow,
    headers: &HeaderMap,
    body: Body,
) -> Result<Accepted, Refusal> {
    let body = tokio::time::timeout(
        app.limits.read_timeout,
        axum::body::to_bytes(body, MAX_BODY),
    )
    .await
    .map_err(|_| {
        (
            StatusCode::REQUEST_TIMEOUT,
            "slow-client",
            "the body did not arrive in time".to_owned(),
        )
    })?
    .map_err(|_| {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("a webhook delivery is at most {MAX_BODY} bytes"),
        )
    })?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now();
    let delivery = webhook::verify(
        &m.secret,
        header(webhook::DELIVERY_ID_HEADER),
        header(webhook::TIMESTAMP_HEADER),
        header(webhook::SIGNATURE_HEADER),
        &body,
        now.timestamp(),
        m.tolerance_secs,
    )
    .map_err(|r| {
        app.metrics.reject("mlflow-unauthenticated");
        (StatusCode::UNAUTHORIZED, "unauthenticated", r.to_string())
    })?;
    // Ids are kept for twice the tolerance (a timestamp may be that far ahead of a replay's
    // arrival) and at least a day.
    let keep = chrono::Duration::seconds(
        i64::try_from(m.tolerance_secs.saturating_mul(2).max(86_400)).unwrap_or(i64::MAX / 1000),
    );
    let new = app
        .store
        .record_delivery(SOURCE, &delivery.id, now, now - keep)
        .await
        .map_err(|e| {
            // 503: MLflow retries, and the id was not recorded.
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                format!("the delivery could not be recorded: {e}"),
            )
        })?;
    if !new {
        app.metrics.reject("mlflow-replay");
        return Err((
            StatusCode::CONFLICT,
            "replayed",
            Rejection::Replayed.to_string(),
        ));
    }
    let event: webhook::Event = serde_json::from_slice(&body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            "bad-request",
            format!("the delivery is not an MLflow event: {e}"),
        )
    })?;
    if event.entity == "model_version" && event.action == "created" {
        return event.version_created().map(Accepted::Scan).ok_or_else(|| {
            (
                StatusCode::BAD_REQUEST,
                "bad-request",
                "model_version.created without data.name and data.version".to_owned(),
            )
        });
    }
    if m.block {
        if let Some(a) = event.alias_created() {
            return Ok(Accepted::Alias(a));
        }
    }
    // Everything else, our own model_version_tag.set writes included, starts nothing.
    Ok(Accepted::Ignored(event.name()))
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Scans version `v`, writes its tags (and quarantine), and records the decision under
/// `request_id`. Never returns an error: every failure is the verdict `error`, in the tags when
/// MLflow can be reached and in the audit row always.
pub async fn judge_version(app: Arc<App>, m: Arc<Mlflow>, v: VersionRef, request_id: String) {
    if !m.claim(&v) {
        return;
    }
    let started = Instant::now();
    let (outcome, mut reasons, counts, size) = scan_version(&app, &m, &v).await;
    let tags = VerdictTags {
        outcome,
        counts,
        signatures_digest: app.signatures_digest.clone(),
        report_id: request_id.clone(),
        reasons: reasons.clone(),
    };
    if let Err(e) = tags.write(&m.client, &v).await {
        reasons.push(format!("the verdict could not be written to MLflow: {e}"));
    }
    if outcome == Outcome::Failed && m.block {
        match tags::quarantine(&m.client, &v).await {
            Ok(removed) => reasons.push(format!(
                "quarantined: alias {:?} set, aliases removed: {removed:?}",
                tags::QUARANTINE_ALIAS
            )),
            Err(e) => reasons.push(format!("quarantine failed: {e}")),
        }
    }
    let verdict = match outcome {
        Outcome::Passed => GateVerdict::Admit,
        Outcome::Failed => GateVerdict::Deny,
        Outcome::Error => GateVerdict::Error,
    };
    let mut row = Decision::new("gate", &request_id, ROUTE, verdict);
    row.client = Some(SOURCE.to_owned());
    row.size = size;
    row.counts = SeverityCounts {
        info: clamp(counts.info),
        low: clamp(counts.low),
        medium: clamp(counts.medium),
        high: clamp(counts.high),
        critical: clamp(counts.critical),
    };
    row.signatures_digest.clone_from(&app.signatures_digest);
    row.policy_digest.clone_from(&app.policy_digest);
    row.duration_ms = millis(started);
    reasons.insert(
        0,
        format!("MLflow model {:?} version {}", v.name, v.version),
    );
    row.reasons = serde_json::to_string(&reasons).unwrap_or_else(|_| "[]".into());
    // No client waits for this row; a store that fails now leaves the version tagged, and the
    // failure in the gate's metrics.
    if app.store.record_decision(row).await.is_err() {
        app.metrics.reject("audit-write-failed");
    }
    m.release(&v);
}

/// With `block_stage_transition`: an alias set on a failed version is removed again, and that
/// decision is an audit row. An alias on any other version is left alone, without a row.
async fn enforce_quarantine(
    app: Arc<App>,
    m: Arc<Mlflow>,
    a: webhook::AliasRef,
    request_id: String,
) {
    let started = Instant::now();
    let v = a.version();
    let (verdict, reason) = match tags::revert_alias(&m.client, &v, &a.alias).await {
        Ok(false) => return,
        Ok(true) => (
            GateVerdict::Deny,
            format!(
                "alias {:?} removed: the version's {} is failed",
                a.alias,
                tags::VERDICT
            ),
        ),
        Err(e) => (
            GateVerdict::Error,
            format!("alias {:?} could not be checked or removed: {e}", a.alias),
        ),
    };
    let mut row = Decision::new("gate", &request_id, ROUTE, verdict);
    row.client = Some(SOURCE.to_owned());
    row.signatures_digest.clone_from(&app.signatures_digest);
    row.policy_digest.clone_from(&app.policy_digest);
    row.duration_ms = millis(started);
    row.reasons = serde_json::to_string(&[
        format!("MLflow model {:?} version {}", v.name, v.version),
        reason,
    ])
    .unwrap_or_else(|_| "[]".into());
    if app.store.record_decision(row).await.is_err() {
        app.metrics.reject("audit-write-failed");
    }
}

fn clamp(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Fetches and scans `v` on a worker: (outcome, reasons, counts, bytes fetched).
async fn scan_version(
    app: &Arc<App>,
    m: &Mlflow,
    v: &VersionRef,
) -> (Outcome, Vec<String>, Counts, Option<u64>) {
    let error = |why: String| (Outcome::Error, vec![why], Counts::default(), None);
    let uri = match m.client.download_uri(&v.name, &v.version).await {
        Ok(u) => u,
        Err(e) => return error(e.to_string()),
    };
    let location = match artifacts::resolve(&uri, &m.client, &m.local_roots) {
        Ok(l) => l,
        Err(e) => return error(e.to_string()),
    };
    // Background scans wait for a slot instead of taking the 503 a client would get.
    let Ok(slot) = app.slots.clone().acquire_owned().await else {
        return error("the gate is shutting down".into());
    };
    let Ok(spool) = tempfile::Builder::new()
        .prefix("modelgate-mlflow-")
        .tempdir_in(&app.spool)
    else {
        return error("the spool directory could not be created".into());
    };
    let fetched = match artifacts::fetch(&m.client, &location, spool.path(), m.limits).await {
        Ok(f) => f,
        Err(e) => return error(e.to_string()),
    };
    let size = Some(fetched.bytes);
    let job = app.job(Target::Upload {
        root: fetched.root,
        name: fetched.name,
    });
    match app
        .pool
        .scan(job, app.limits.scan_timeout, (spool, slot))
        .await
    {
        Ok(mut report) => {
            app.policy.apply(&mut report);
            let (verdict, reasons) = verdict::judge(&report, &app.gate);
            let outcome = match verdict {
                GateVerdict::Admit => Outcome::Passed,
                GateVerdict::Deny => Outcome::Failed,
                GateVerdict::Error => Outcome::Error,
            };
            (outcome, reasons, Counts::of(&report), size)
        }
        Err(e) => (Outcome::Error, vec![e.to_string()], Counts::default(), size),
    }
}
