//! Process metrics, rendered as Prometheus text by `web/`. Shared by the
//! layers that record (HTTP middleware, node wrapper, workers); it imports
//! nothing of the crate.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The plain counters: a closed set, so a name cannot be mistyped at the
/// call site and every counter is exported (at 0) from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// A withdrawal was paid.
    WithdrawalsSucceeded,
    /// A withdrawal definitely failed (its use was given back).
    WithdrawalsFailed,
    /// A pay invoice was settled.
    InvoicesSettled,
    /// A webhook event was delivered (2xx).
    WebhooksDelivered,
    /// A webhook delivery attempt failed (it will be retried).
    WebhookAttemptsFailed,
    /// A webhook event ran out of retries.
    WebhooksFailed,
    /// A push was sent to an offline wallet's webhook.
    OfflinePushes,
    /// A phone's reply passed every check and answered its payer.
    OfflineRepliesAccepted,
    /// A phone's reply failed a check (422; its payer got an error).
    OfflineRepliesRefused,
    /// A phone's reply came too late, twice, or with an unknown token.
    OfflineRepliesUnmatched,
    /// A payer's request expired without the phone's reply.
    OfflineTimeouts,
}

impl Counter {
    /// Every counter, in export order.
    pub const ALL: [Counter; 11] = [
        Counter::WithdrawalsSucceeded,
        Counter::WithdrawalsFailed,
        Counter::InvoicesSettled,
        Counter::WebhooksDelivered,
        Counter::WebhookAttemptsFailed,
        Counter::WebhooksFailed,
        Counter::OfflinePushes,
        Counter::OfflineRepliesAccepted,
        Counter::OfflineRepliesRefused,
        Counter::OfflineRepliesUnmatched,
        Counter::OfflineTimeouts,
    ];

    /// The Prometheus name.
    pub fn name(self) -> &'static str {
        match self {
            Counter::WithdrawalsSucceeded => "lnurld_withdrawals_succeeded_total",
            Counter::WithdrawalsFailed => "lnurld_withdrawals_failed_total",
            Counter::InvoicesSettled => "lnurld_invoices_settled_total",
            Counter::WebhooksDelivered => "lnurld_webhooks_delivered_total",
            Counter::WebhookAttemptsFailed => "lnurld_webhook_attempts_failed_total",
            Counter::WebhooksFailed => "lnurld_webhooks_failed_total",
            Counter::OfflinePushes => "lnurld_offline_pushes_total",
            Counter::OfflineRepliesAccepted => "lnurld_offline_replies_accepted_total",
            Counter::OfflineRepliesRefused => "lnurld_offline_replies_refused_total",
            Counter::OfflineRepliesUnmatched => "lnurld_offline_replies_unmatched_total",
            Counter::OfflineTimeouts => "lnurld_offline_timeouts_total",
        }
    }

    fn index(self) -> usize {
        Counter::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// What became of one attempt to publish a zap receipt at a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ZapOutcome {
    /// The relay answered `OK` true.
    Published,
    /// The relay answered `OK` false (it will be retried).
    Refused,
    /// No answer: refused address, no connection, timeout (retried).
    Failed,
}

impl ZapOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ZapOutcome::Published => "published",
            ZapOutcome::Refused => "refused",
            ZapOutcome::Failed => "failed",
        }
    }
}

/// Most relay hosts counted by name; the rest share the label `other`.
/// Relays are named by zap senders, strangers, and each label value is a
/// series kept forever (DESIGN invariant 8).
pub const MAX_RELAY_HOSTS: usize = 50;

/// The method label of an HTTP request: the standard methods by name and
/// anything else `other`, because a method is any token a client cares to
/// send and each label value is a series kept forever.
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    KNOWN.into_iter().find(|k| *k == method).unwrap_or("other")
}

#[derive(Default)]
struct Inner {
    /// By method label, route pattern (or `unmatched`) and status.
    http: BTreeMap<(&'static str, String, u16), u64>,
    /// By route pattern and error code, both `'static`: closed sets.
    lud_errors: BTreeMap<(&'static str, &'static str), u64>,
    /// Rate-limit refusals by route pattern and which limit refused.
    rate_limited: BTreeMap<(String, &'static str), u64>,
    node_calls: BTreeMap<(&'static str, bool), Histogram>,
    /// Zap receipt attempts by relay host (at most [`MAX_RELAY_HOSTS`]
    /// names) and outcome.
    zap_receipts: BTreeMap<(String, ZapOutcome), u64>,
    counters: [u64; Counter::ALL.len()],
}

/// Counters and histograms of this process.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// One HTTP request by method ([`method_label`]), route pattern and
    /// status. `route` must be a registered pattern or `unmatched`, never a
    /// request's path.
    pub fn http_request(&self, method: &str, route: &str, status: u16) {
        if let Ok(mut m) = self.inner.lock() {
            *m.http
                .entry((method_label(method), route.to_owned(), status))
                .or_default() += 1;
        }
    }

    /// One LUD `{"status":"ERROR"}` answer by route pattern and reason code.
    pub fn lud_error(&self, route: &'static str, reason: &'static str) {
        if let Ok(mut m) = self.inner.lock() {
            *m.lud_errors.entry((route, reason)).or_default() += 1;
        }
    }

    /// One request refused by a rate limit, by route pattern (or
    /// `unmatched`) and the limit (`ip`, `link`, `admin_auth`); never by
    /// client.
    pub fn rate_limited(&self, route: &str, limit: &'static str) {
        if let Ok(mut m) = self.inner.lock() {
            *m.rate_limited.entry((route.to_owned(), limit)).or_default() += 1;
        }
    }

    /// One node call (a trait method's name) and how long it took.
    pub fn node_call(&self, call: &'static str, ok: bool, took: Duration) {
        if let Ok(mut m) = self.inner.lock() {
            let h = m.node_calls.entry((call, ok)).or_default();
            let secs = took.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.buckets[i] += 1;
                }
            }
            h.count += 1;
            h.sum += secs;
        }
    }

    /// One attempt to publish a zap receipt at a relay on `host`. A host
    /// not yet counted is named only while fewer than [`MAX_RELAY_HOSTS`]
    /// are; later ones are counted as `other`.
    pub fn zap_receipt(&self, host: &str, outcome: ZapOutcome) {
        if let Ok(mut m) = self.inner.lock() {
            let known = m.zap_receipts.keys().any(|(h, _)| h == host);
            let hosts = m
                .zap_receipts
                .keys()
                .map(|(h, _)| h.as_str())
                .filter(|h| *h != "other")
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            let label = if known || hosts < MAX_RELAY_HOSTS {
                host.to_owned()
            } else {
                "other".to_owned()
            };
            *m.zap_receipts.entry((label, outcome)).or_default() += 1;
        }
    }

    /// Counts one `c`.
    pub fn count(&self, c: Counter) {
        if let Ok(mut m) = self.inner.lock() {
            m.counters[c.index()] += 1;
        }
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(m) = self.inner.lock() else {
            return out;
        };
        out.push_str("# HELP lnurld_http_requests_total HTTP requests by route and status.\n# TYPE lnurld_http_requests_total counter\n");
        for ((method, route, status), n) in &m.http {
            let _ = writeln!(
                out,
                "lnurld_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(method),
                escape(route)
            );
        }
        out.push_str("# HELP lnurld_lud_errors_total LUD ERROR answers by route and reason.\n# TYPE lnurld_lud_errors_total counter\n");
        for ((route, reason), n) in &m.lud_errors {
            let _ = writeln!(
                out,
                "lnurld_lud_errors_total{{route=\"{}\",reason=\"{}\"}} {n}",
                escape(route),
                escape(reason)
            );
        }
        out.push_str("# HELP lnurld_rate_limited_total Requests refused by a rate limit, by route and limit.\n# TYPE lnurld_rate_limited_total counter\n");
        for ((route, limit), n) in &m.rate_limited {
            let _ = writeln!(
                out,
                "lnurld_rate_limited_total{{route=\"{}\",limit=\"{limit}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP lnurld_node_call_seconds Latency of node backend calls.\n# TYPE lnurld_node_call_seconds histogram\n");
        for ((call, ok), h) in &m.node_calls {
            let labels = format!("call=\"{}\",ok=\"{ok}\"", escape(call));
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "lnurld_node_call_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    h.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "lnurld_node_call_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "lnurld_node_call_seconds_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(
                out,
                "lnurld_node_call_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str("# HELP lnurld_zap_receipts_total Zap receipt publishing attempts by relay host and outcome.\n# TYPE lnurld_zap_receipts_total counter\n");
        for ((host, outcome), n) in &m.zap_receipts {
            let _ = writeln!(
                out,
                "lnurld_zap_receipts_total{{relay=\"{}\",outcome=\"{}\"}} {n}",
                escape(host),
                outcome.as_str()
            );
        }
        for c in Counter::ALL {
            let name = c.name();
            let n = m.counters[c.index()];
            let _ = writeln!(out, "# TYPE {name} counter\n{name} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_exported_and_counts_alone() {
        let m = Metrics::default();
        m.count(Counter::InvoicesSettled);
        m.count(Counter::InvoicesSettled);
        let text = m.render();
        for c in Counter::ALL {
            let want = if c == Counter::InvoicesSettled { 2 } else { 0 };
            assert!(
                text.contains(&format!("\n{} {want}\n", c.name())),
                "{} in {text}",
                c.name()
            );
        }
    }

    #[test]
    fn relay_hosts_are_a_bounded_label_set() {
        let m = Metrics::default();
        for i in 0..MAX_RELAY_HOSTS + 10 {
            m.zap_receipt(&format!("relay{i}.example"), ZapOutcome::Published);
        }
        // A host already named keeps its name.
        m.zap_receipt("relay0.example", ZapOutcome::Refused);
        let text = m.render();
        let series = text
            .lines()
            .filter(|l| l.starts_with("lnurld_zap_receipts_total{"))
            .count();
        assert_eq!(series, MAX_RELAY_HOSTS + 2, "{text}");
        assert!(
            text.contains("lnurld_zap_receipts_total{relay=\"other\",outcome=\"published\"} 10")
        );
        assert!(text
            .contains("lnurld_zap_receipts_total{relay=\"relay0.example\",outcome=\"refused\"} 1"));
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let m = Metrics::default();
        for method in [
            "GET",
            "POST",
            "BREW",
            "get",
            "X".repeat(8192).as_str(),
            "OTHER",
        ] {
            m.http_request(method, "unmatched", 404);
        }
        let text = m.render();
        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("lnurld_http_requests_total{"))
            .collect();
        assert_eq!(
            series,
            [
                "lnurld_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
                "lnurld_http_requests_total{method=\"POST\",route=\"unmatched\",status=\"404\"} 1",
                "lnurld_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 4",
            ]
        );
    }
}
