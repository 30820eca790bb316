//! Where registries and clusters call the gate, each speaking its own contract, in the same
//! `modelgate serve` process and writing to the same audit trail:
//!
//! - [`harbor`]: Harbor's pluggable scanner adapter API (`/api/v1/…`, token scope `harbor`),
//!   enabled by `[harbor] enabled = true`.
//! - [`kubernetes`]: a validating admission webhook (`POST /k8s/validate`, token scope
//!   `admission`), enabled by `[kubernetes] enabled = true`.
//!
//! - [`mlflow`]: MLflow model-registry webhooks (`POST /integrations/mlflow/webhook`,
//!   authenticated by their HMAC signature), enabled by `[mlflow] enabled = true`.
//!
//! A disabled integration has no routes at all (its paths answer 404).

pub mod harbor;
pub mod kubernetes;
pub mod mlflow;

use std::sync::Arc;

use axum::Router;

use super::app::App;
use crate::config::Config;

/// The integrations the configuration enables, with their state.
pub struct Integrations {
    pub harbor: Option<harbor::Harbor>,
    pub kubernetes: Option<kubernetes::Kubernetes>,
}

impl Integrations {
    pub fn new(config: &Config) -> Self {
        Integrations {
            harbor: config
                .harbor
                .enabled
                .then(|| harbor::Harbor::new(&config.harbor)),
            kubernetes: config
                .kubernetes
                .enabled
                .then(|| kubernetes::Kubernetes::new(&config.kubernetes)),
        }
    }
}

/// The routes of the enabled integrations (merged into the gate's router).
pub fn routes(app: &Arc<App>) -> Router<Arc<App>> {
    let mut r = Router::new();
    if app.integrations.harbor.is_some() {
        r = r.merge(harbor::routes());
    }
    if app.integrations.kubernetes.is_some() {
        r = r.merge(kubernetes::routes());
    }
    // `[mlflow]` is set up after the app (it needs the gate's limits); its handler answers 404
    // while it is off.
    r.merge(mlflow::router())
}

/// The metrics label of an integration's path (bounded: ids in paths are not labels).
pub fn route_label(path: &str) -> Option<&'static str> {
    if path == kubernetes::ROUTE {
        Some(kubernetes::ROUTE)
    } else if path == mlflow::PATH {
        Some(mlflow::PATH)
    } else {
        harbor::route_label(path)
    }
}

/// Whether a request to `path` is a decision the request middleware records in the audit trail.
/// Harbor's decisions are made after `POST /api/v1/scan` has answered, so the scan job records
/// its own row ([`harbor`]).
pub fn is_decision(path: &str) -> bool {
    path == kubernetes::ROUTE
}
