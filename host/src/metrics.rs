//! Prometheus metrics (`/metrics`, text exposition format): jobs by state, enclave run
//! durations, HTTP request latencies by route and status.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::store::Store;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

/// The daemon's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    jobs: Family<StateLabel, Gauge>,
    runs: Histogram,
    http: Family<HttpLabels, Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Empty metrics, registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("assay_host");
        let jobs = Family::<StateLabel, Gauge>::default();
        registry.register("jobs", "Jobs in the store, by state", jobs.clone());
        // 0.1 s … ~7 h.
        let runs = Histogram::new(exponential_buckets(0.1, 2.0, 18));
        registry.register(
            "enclave_run_seconds",
            "Wall time of enclave runs, from launch to exit",
            runs.clone(),
        );
        let http = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            // 50 µs … ~3 s.
            Histogram::new(exponential_buckets(0.00005, 2.0, 17))
        });
        registry.register(
            "http_request_seconds",
            "HTTP request latency, by method, route and status",
            http.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            jobs,
            runs,
            http,
        }
    }

    /// Sets the jobs-by-state gauges from the store.
    pub fn observe_store(&self, store: &Store) {
        if let Ok(counts) = store.counts() {
            for (state, n) in counts {
                self.jobs
                    .get_or_create(&StateLabel {
                        state: state.name().to_owned(),
                    })
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
    }

    /// Records an enclave run.
    pub fn observe_run(&self, took: Duration) {
        self.runs.observe(took.as_secs_f64());
    }

    /// Records an HTTP request.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.http
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .observe(took.as_secs_f64());
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(
            &mut out,
            &self.registry.lock().expect("registry"),
        )
        .expect("writing to a String cannot fail");
        out
    }
}
