//! The gate's Prometheus metrics (`GET /metrics`, text exposition format), through the
//! `prometheus-client` crate of the Prometheus project.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

/// Every metric the gate exports.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RouteLabels, Counter>,
    pub verdicts: Family<VerdictLabels, Counter>,
    pub rejections: Family<ReasonLabels, Counter>,
    pub scan_seconds: Histogram,
    pub bytes_scanned: Counter<u64, AtomicU64>,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub in_flight: Gauge,
    /// Request bodies being received now (before their scan starts): what a drain on SIGTERM
    /// waits for besides the scans.
    pub uploads: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("modelgate");
        let requests = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        let verdicts = Family::<VerdictLabels, Counter>::default();
        registry.register("verdicts", "Gate verdicts", verdicts.clone());
        let rejections = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "rejections",
            "Requests refused before a scan, by reason",
            rejections.clone(),
        );
        let scan_seconds = Histogram::new([
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            60.0, 300.0,
        ]);
        registry.register(
            "scan_seconds",
            "Time from a received upload to its verdict",
            scan_seconds.clone(),
        );
        let bytes_scanned = Counter::<u64, AtomicU64>::default();
        registry.register(
            "scanned_bytes",
            "Bytes of uploads scanned",
            bytes_scanned.clone(),
        );
        let cache_hits = Counter::default();
        registry.register(
            "cache_hits",
            "Verdicts answered from the cache",
            cache_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register(
            "cache_misses",
            "Verdicts that needed a scan",
            cache_misses.clone(),
        );
        let in_flight = Gauge::default();
        registry.register("scans_in_flight", "Scans running now", in_flight.clone());
        let uploads = Gauge::default();
        registry.register(
            "uploads_in_flight",
            "Request bodies being received now",
            uploads.clone(),
        );
        Metrics {
            registry,
            requests,
            verdicts,
            rejections,
            scan_seconds,
            bytes_scanned,
            cache_hits,
            cache_misses,
            in_flight,
            uploads,
        }
    }
}

impl Metrics {
    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn reject(&self, reason: &str) {
        self.rejections
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }
}
