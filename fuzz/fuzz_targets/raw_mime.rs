//! Fuzz target for raw MIME as `POST /inbound/email` and the SMTP listener receive it: the
//! header read done at receipt, the bounce reading (DSN recipients, returned Message-IDs) and the
//! sender check (`Authentication-Results` and DKIM signatures; no key is ever found, so nothing
//! may pass). Nothing may panic.

#![no_main]

use std::collections::HashMap;
use std::sync::Arc;

use bots::email::auth::{Checker, KeySource};
use bots::email::{dsn, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse::header_message_id(data);
    let _ = dsn::hard_bounced_recipients(&String::from_utf8_lossy(data));
    let _ = dsn::returned_message_ids(data, 8);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let verdict = runtime.block_on(async {
        let checker = Checker::new(
            Some("mx.fuzz.example".into()),
            KeySource::Static(Arc::new(HashMap::new())).resolver(),
        );
        checker.authenticate(data).await
    });
    if let Ok(sender) = verdict {
        // Only an Authentication-Results header of our MTA can pass without keys.
        assert!(
            matches!(
                sender.by,
                bots::email::auth::Authenticated::AuthenticationResults { .. }
            ),
            "{sender:?}"
        );
    }
});
