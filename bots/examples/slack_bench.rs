//! Signed Slack events per second through the checks of `/slack/events`: signature, then parsing.
//!
//! `cargo run -p bots --release --example slack_bench -- [EVENTS]` (default 100000). The events are
//! built and signed up front with the fake's sender (DMs and thread replies of realistic size), then
//! checked one after the other on one thread with `SlackRequests::event`, the function the app's
//! route calls before it logs an event durably; the signature alone is timed separately. This is
//! the CPU cost per event in front of the durable log, not the end-to-end rate (that needs the app).

use std::time::Instant;

use bots::slack::SlackRequests;
use bots::slack::events::EventsRequest;
use bots::slack::fake::{EventsSender, FAKE_SIGNING_SECRET};
use bots::slack::signing::SigningSecret;
use serde_json::json;

const NOW: i64 = 1_764_010_800;

fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    // Only used to shape and sign bodies: nothing is posted.
    let sender = EventsSender::new("http://127.0.0.1:9").with_clock(|| NOW);
    let secret = SigningSecret::new(FAKE_SIGNING_SECRET);
    let signed: Vec<(String, String, Vec<u8>)> = (0..events)
        .map(|i| {
            let ts = sender.next_ts();
            let mut event = json!({"type": "message", "channel": "C0TEAM", "channel_type": "channel",
                "user": format!("U{i:08}"), "text": format!("shipped release {i}\nfixed the flaky test in the importer"),
                "ts": ts, "event_ts": ts, "team": "T0DONEBOT"});
            if i % 2 == 0 {
                event["thread_ts"] = json!("1764010700.000100");
            }
            let (_, body) = sender.envelope(event);
            (NOW.to_string(), secret.sign(NOW, &body), body)
        })
        .collect();
    let bytes: usize = signed.iter().map(|(_, _, b)| b.len()).sum();

    let started = Instant::now();
    for (ts, signature, body) in &signed {
        if secret.verify(Some(ts), Some(signature), body, NOW).is_err() {
            eprintln!("slack bench: a signature did not verify");
            std::process::exit(2);
        }
    }
    let verify = started.elapsed();

    let requests = SlackRequests::new(FAKE_SIGNING_SECRET);
    let started = Instant::now();
    let mut callbacks = 0usize;
    for (ts, signature, body) in &signed {
        let headers = bots::slack::SignedHeaders {
            timestamp: Some(ts),
            signature: Some(signature),
        };
        match requests.event(headers, body, NOW) {
            Ok(EventsRequest::Callback(_)) => callbacks += 1,
            other => {
                eprintln!("slack bench: unexpected {other:?}");
                std::process::exit(2);
            }
        }
    }
    let checked = started.elapsed();

    let rate = |d: std::time::Duration| events as f64 / d.as_secs_f64().max(f64::EPSILON);
    println!(
        "slack events: {events} signed events ({} bytes on average): signature alone {:.0}/s ({:.2} µs each), \
         signature + parsing {:.0}/s ({:.2} µs each), {callbacks} callbacks",
        bytes / events.max(1),
        rate(verify),
        verify.as_secs_f64() * 1e6 / events.max(1) as f64,
        rate(checked),
        checked.as_secs_f64() * 1e6 / events.max(1) as f64,
    );
}
