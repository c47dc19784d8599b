//! Counters for `/metrics` (Prometheus text format). In-process counters reset on restart, as
//! Prometheus expects; durable totals (dones recorded, outbox states) come from storage.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub prompts_sent: AtomicU64,
    pub digests_sent: AtomicU64,
    pub replies_received: AtomicU64,
    pub replies_refused: AtomicU64,
    pub dones_recorded: AtomicU64,
    pub inbound_accepted: AtomicU64,
    pub emails_sent: AtomicU64,
    pub emails_deferred: AtomicU64,
    pub emails_failed: AtomicU64,
    pub actor_restarts: AtomicU64,
    /// Outbox sends by channel and outcome (`sent`, `deferred`, `failed`); email included.
    sends: Mutex<BTreeMap<(String, &'static str), u64>>,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one send's outcome on a channel.
    pub fn count_send(&self, channel: &str, outcome: &'static str) {
        let mut sends = self.sends.lock().unwrap_or_else(|p| p.into_inner());
        *sends.entry((channel.to_owned(), outcome)).or_default() += 1;
    }

    /// Renders the counters plus the given gauges.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        let counters: [(&str, &str, &AtomicU64); 10] = [
            (
                "donebot_prompts_sent_total",
                "Prompts queued for delivery",
                &self.prompts_sent,
            ),
            (
                "donebot_digests_sent_total",
                "Digests queued for delivery",
                &self.digests_sent,
            ),
            (
                "donebot_replies_received_total",
                "Replies turned into dones",
                &self.replies_received,
            ),
            (
                "donebot_replies_refused_total",
                "Inbound messages refused (unknown sender, forged token)",
                &self.replies_refused,
            ),
            (
                "donebot_dones_recorded_total",
                "Dones recorded",
                &self.dones_recorded,
            ),
            (
                "donebot_inbound_accepted_total",
                "Inbound messages made durable",
                &self.inbound_accepted,
            ),
            (
                "donebot_emails_sent_total",
                "Emails accepted by the next hop",
                &self.emails_sent,
            ),
            (
                "donebot_emails_deferred_total",
                "Temporary delivery failures",
                &self.emails_deferred,
            ),
            (
                "donebot_emails_failed_total",
                "Emails given up",
                &self.emails_failed,
            ),
            (
                "donebot_actor_restarts_total",
                "Team actors restarted after a panic",
                &self.actor_restarts,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let sends = self.sends.lock().unwrap_or_else(|p| p.into_inner());
        let name = "donebot_outbox_sends_total";
        let _ = writeln!(
            out,
            "# HELP {name} Outbox send attempts by channel and outcome\n# TYPE {name} counter"
        );
        for ((channel, outcome), n) in sends.iter() {
            let _ = writeln!(
                out,
                "{name}{{channel=\"{channel}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        drop(sends);
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        out
    }
}
