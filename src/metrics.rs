//! Prometheus metrics: what the HTTP layer answered and what the store was asked, at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// An HTTP answer.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// Route name (`frame`, `raw`, ...).
    pub route: &'static str,
    /// Status code.
    pub status: u16,
}

/// A route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// Route name.
    pub route: &'static str,
}

/// A store request and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabels {
    /// `head`, `read`, `stream` or `list`.
    pub op: &'static str,
    /// `ok`, `not_found`, `changed`, `timeout` or `error`.
    pub outcome: &'static str,
}

/// A store operation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabel {
    /// Operation.
    pub op: &'static str,
}

/// A content coding.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodingLabel {
    /// `gzip`, `br` or `zstd`.
    pub coding: &'static str,
}

fn latency() -> Histogram {
    // 0.25 ms to about 4 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

/// Every metric the server keeps.
pub struct Metrics {
    registry: Registry,
    /// Answers by route and status.
    pub http_requests: Family<HttpLabels, Counter>,
    /// Time to answer, by route.
    pub http_seconds: Family<RouteLabel, Histogram, fn() -> Histogram>,
    /// Store requests by operation and outcome.
    pub store_requests: Family<StoreLabels, Counter>,
    /// Bytes read from the store, by operation.
    pub store_bytes: Family<OpLabel, Counter>,
    /// Store latency (to the first byte for streams), by operation.
    pub store_seconds: Family<OpLabel, Histogram, fn() -> Histogram>,
    /// Answers compressed, by coding: each is made once and kept, so this grows with the
    /// answers made, not with the requests served.
    pub compressions: Family<CodingLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("framegate");
        let http_requests = Family::default();
        let http_seconds = Family::new_with_constructor(latency as fn() -> Histogram);
        let store_requests = Family::default();
        let store_bytes = Family::default();
        let store_seconds = Family::new_with_constructor(latency as fn() -> Histogram);
        registry.register("http_requests", "HTTP answers by route and status", http_requests.clone());
        registry.register("http_seconds", "Time to answer, by route", http_seconds.clone());
        registry.register("store_requests", "Store requests by operation and outcome", store_requests.clone());
        registry.register("store_bytes", "Bytes read from the store", store_bytes.clone());
        registry.register("store_seconds", "Store latency by operation", store_seconds.clone());
        let compressions = Family::default();
        registry.register("compressions", "Answers compressed, by content coding", compressions.clone());
        Metrics { registry, http_requests, http_seconds, store_requests, store_bytes, store_seconds, compressions }
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
