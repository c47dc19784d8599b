//! Is the sender of a message who its `From:` says? Answers with a DKIM signature aligned with the
//! `From` domain (verified with mail-auth), or with the `Authentication-Results` header that the
//! operator's own MTA added.
//!
//! This module owns the check, not the policy: the app decides that mail without a valid reply
//! token counts only when [`authenticate`] passes. It reads no DNS itself: public keys come
//! through a [`KeyResolver`] (DNS in production, a fixed table in tests), and are handed to
//! mail-auth through its TXT cache, so mail-auth never queries on its own.
//!
//! Invariant: a pass needs a verified signature *by the From domain* (or a parent of it) over the
//! whole body (`l=` refused) and exactly one `From` header; an `Authentication-Results` header
//! counts only when it is the topmost one carrying the configured authserv-id, since every
//! header below it may have been written by anyone.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mail_auth::common::verify::DomainKey;
use mail_auth::hickory_resolver::config::{ResolverConfig, ResolverOpts};
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters, Txt};

/// At most this many DKIM signatures of one message are looked at (each costs a key lookup).
const MAX_SIGNATURES: usize = 8;

/// A pending TXT lookup: the records, or why there are none.
pub type TxtLookup<'a> = Pin<Box<dyn Future<Output = Result<Vec<Vec<u8>>, String>> + Send + 'a>>;

/// Looks up TXT records (DKIM public keys at `selector._domainkey.domain.`).
pub trait KeyResolver: Send + Sync {
    /// The TXT records at the fully qualified `name`; empty when there are none.
    fn txt<'a>(&'a self, name: &'a str) -> TxtLookup<'a>;
}

/// Where public keys come from.
#[derive(Clone)]
pub enum KeySource {
    /// The system's DNS resolver (`/etc/resolv.conf`).
    Dns,
    /// A fixed table: fully qualified name → TXT record (tests; no DNS).
    Static(Arc<HashMap<String, String>>),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Dns => f.write_str("Dns"),
            KeySource::Static(t) => write!(f, "Static({} records)", t.len()),
        }
    }
}

impl KeySource {
    /// The resolver for this source. Without a usable system resolver every lookup fails with
    /// the reason (and the mail that needed it is refused, kept in the failed log).
    pub fn resolver(&self) -> Arc<dyn KeyResolver> {
        match self {
            KeySource::Dns => match MessageAuthenticator::new_system_conf() {
                Ok(dns) => Arc::new(DnsKeys(dns)),
                Err(e) => {
                    tracing::warn!(error = %e, "no DNS resolver: DKIM signatures of inbound mail cannot be checked");
                    Arc::new(NoKeys(format!("no DNS resolver: {e}")))
                }
            },
            KeySource::Static(table) => Arc::new(StaticKeys(Arc::clone(table))),
        }
    }
}

struct NoKeys(String);

impl KeyResolver for NoKeys {
    fn txt<'a>(&'a self, _: &'a str) -> TxtLookup<'a> {
        Box::pin(std::future::ready(Err(self.0.clone())))
    }
}

struct DnsKeys(MessageAuthenticator);

impl KeyResolver for DnsKeys {
    fn txt<'a>(&'a self, name: &'a str) -> TxtLookup<'a> {
        Box::pin(async move {
            match self.0.txt_raw_lookup(name).await {
                Ok(record) => Ok(vec![record]),
                Err(mail_auth::Error::DnsRecordNotFound(_)) => Ok(Vec::new()),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

struct StaticKeys(Arc<HashMap<String, String>>);

impl KeyResolver for StaticKeys {
    fn txt<'a>(&'a self, name: &'a str) -> TxtLookup<'a> {
        let found = self
            .0
            .get(name)
            .or_else(|| self.0.get(name.trim_end_matches('.')))
            .map(|r| vec![r.as_bytes().to_vec()])
            .unwrap_or_default();
        Box::pin(std::future::ready(Ok(found)))
    }
}

/// An authenticated sender: the address of the message's single `From`, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// Lower-cased bare address.
    pub address: String,
    pub by: Authenticated,
}

/// How a sender was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authenticated {
    /// A valid DKIM signature by this domain (the From domain or a parent of it).
    Dkim { domain: String },
    /// The operator's MTA said so in `Authentication-Results` (`dkim` or `dmarc`).
    AuthenticationResults { method: String },
}

/// Why a sender is not authenticated (or could not be checked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the message has no From address")]
    NoFrom,
    #[error("the message has {0} From headers")]
    ManyFroms(usize),
    #[error("no DKIM signature, and no Authentication-Results from this server's MTA")]
    Unsigned,
    #[error("no valid DKIM signature aligned with {domain} ({why})")]
    Failed { domain: String, why: String },
}

/// What the check needs besides the message.
pub struct Checker {
    /// The authserv-id of the operator's MTA; `None`: `Authentication-Results` are ignored.
    pub authserv_id: Option<String>,
    pub keys: Arc<dyn KeyResolver>,
    /// Verifies signatures with keys from its cache only (its resolver has no name servers).
    verifier: MessageAuthenticator,
}

impl Checker {
    pub fn new(authserv_id: Option<String>, keys: Arc<dyn KeyResolver>) -> Checker {
        Checker {
            authserv_id,
            keys,
            verifier: MessageAuthenticator::new(ResolverConfig::default(), ResolverOpts::default())
                .expect("a resolver without name servers needs no I/O to build"),
        }
    }

    /// Is `raw` from the domain of its (single) `From` address?
    pub async fn authenticate(&self, raw: &[u8]) -> Result<Sender, AuthError> {
        let message = AuthenticatedMessage::parse(raw).ok_or(AuthError::NoFrom)?;
        let froms = message
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(b"from"))
            .count();
        if froms > 1 {
            return Err(AuthError::ManyFroms(froms));
        }
        let address = match message.from.as_slice() {
            [from] => from.trim().to_ascii_lowercase(),
            [] => return Err(AuthError::NoFrom),
            many => return Err(AuthError::ManyFroms(many.len())),
        };
        let domain = address
            .rsplit_once('@')
            .map(|(_, d)| d.trim_end_matches('.').to_string())
            .filter(|d| !d.is_empty())
            .ok_or(AuthError::NoFrom)?;
        let by = match &self.authserv_id {
            Some(id) => authentication_results(&message.headers, id, &domain)
                .map(|method| Authenticated::AuthenticationResults { method }),
            None => None,
        };
        let by = match by {
            Some(by) => by,
            None if message.dkim_headers.is_empty() => return Err(AuthError::Unsigned),
            None => self.dkim(&message, &domain).await?,
        };
        Ok(Sender { address, by })
    }

    async fn dkim(
        &self,
        message: &AuthenticatedMessage<'_>,
        domain: &str,
    ) -> Result<Authenticated, AuthError> {
        let failed = |why: String| AuthError::Failed {
            domain: domain.to_string(),
            why,
        };
        if message.dkim_headers.len() > MAX_SIGNATURES {
            return Err(failed(format!("more than {MAX_SIGNATURES} signatures")));
        }
        let cache = TxtCache::default();
        let mut why = Vec::new();
        for header in &message.dkim_headers {
            let Ok(sig) = &header.header else { continue };
            // The name mail-auth looks the key up by (`VerifySignature::domain_key`).
            let name = format!("{}._domainkey.{}.", sig.s, sig.d);
            if !aligned(&sig.d, domain) {
                why.push(format!("signed by {}", sig.d));
                // Never looked up: the signature does not speak for the From domain.
                cache.put(name, Txt::Error(mail_auth::Error::NotAligned));
                continue;
            }
            let record = match self.keys.txt(&name).await {
                Ok(records) => records
                    .iter()
                    .find_map(|r| {
                        <DomainKey as mail_auth::common::parse::TxtRecordParser>::parse(r).ok()
                    })
                    .map(Txt::from)
                    .unwrap_or(Txt::Error(mail_auth::Error::DnsRecordNotFound(
                        ResponseCode::NXDomain,
                    ))),
                Err(e) => Txt::Error(mail_auth::Error::DnsError(e)),
            };
            cache.put(name, record);
        }
        // Every signature's key (or why there is none) is in the cache: the verifier, which has
        // no name servers, never queries.
        let outputs = self
            .verifier
            .verify_dkim(Parameters::new(message).with_txt_cache(&cache))
            .await;
        for output in &outputs {
            let Some(sig) = output.signature() else {
                continue;
            };
            match output.result() {
                _ if !aligned(&sig.d, domain) => {}
                DkimResult::Pass if sig.l != 0 => {
                    why.push(format!("{} signs part of the body (l=)", sig.d))
                }
                DkimResult::Pass if !sig.h.iter().any(|h| h.eq_ignore_ascii_case("from")) => {
                    why.push(format!("{} does not sign From", sig.d))
                }
                DkimResult::Pass => {
                    return Ok(Authenticated::Dkim {
                        domain: sig.d.to_ascii_lowercase(),
                    });
                }
                other => why.push(format!("{}: {other:?}", sig.d)),
            }
        }
        why.dedup();
        Err(failed(if why.is_empty() {
            "no readable signature".into()
        } else {
            why.join("; ")
        }))
    }
}

/// `signer` is the From domain or a parent of it (relaxed alignment, without a public-suffix
/// list: a parent must itself have a dot, so `d=com` never aligns).
fn aligned(signer: &str, from_domain: &str) -> bool {
    let signer = signer.trim_end_matches('.').to_ascii_lowercase();
    signer == from_domain
        || (signer.contains('.')
            && from_domain
                .strip_suffix(signer.as_str())
                .is_some_and(|rest| rest.ends_with('.')))
}

/// `dkim=pass` (with `header.d`/`header.i` aligned) or `dmarc=pass` (with `header.from` the From
/// domain) in the topmost `Authentication-Results` header whose authserv-id is `authserv_id`.
fn authentication_results(
    headers: &[(&[u8], &[u8])],
    authserv_id: &str,
    from_domain: &str,
) -> Option<String> {
    let value = headers.iter().find_map(|(name, value)| {
        if !name.eq_ignore_ascii_case(b"authentication-results") {
            return None;
        }
        let value = String::from_utf8_lossy(value);
        let results = results(&value);
        let id = results
            .first()?
            .split_whitespace()
            .next()?
            .to_ascii_lowercase();
        (id == authserv_id.to_ascii_lowercase()).then_some(results)
    })?;
    for resinfo in value.iter().skip(1) {
        let mut words = resinfo.split_whitespace();
        let Some((method, result)) = words.next().and_then(|w| w.split_once('=')) else {
            continue;
        };
        if !result.eq_ignore_ascii_case("pass") {
            continue;
        }
        let method = method.to_ascii_lowercase();
        let props: Vec<(String, String)> = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    v.trim_matches('"').to_ascii_lowercase(),
                )
            })
            .collect();
        let prop = |k: &str| {
            props
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let ok = match method.as_str() {
            "dkim" => prop("header.d")
                .or_else(|| prop("header.i").and_then(|i| i.rsplit_once('@').map(|(_, d)| d)))
                .is_some_and(|d| aligned(d, from_domain)),
            "dmarc" => prop("header.from").is_some_and(|d| d == from_domain),
            _ => false,
        };
        if ok {
            return Some(method);
        }
    }
    None
}

/// The `;`-separated parts of an `Authentication-Results` value, comments (in parentheses,
/// nested) and quoted strings respected, comments removed.
fn results(value: &str) -> Vec<String> {
    let (mut parts, mut part) = (Vec::new(), String::new());
    let (mut depth, mut quoted) = (0usize, false);
    for c in value.chars() {
        match c {
            '"' if depth == 0 => {
                quoted = !quoted;
                part.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            ';' if !quoted && depth == 0 => parts.push(std::mem::take(&mut part)),
            _ if depth > 0 => {}
            _ => part.push(c),
        }
    }
    parts.push(part);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// mail-auth's TXT cache, filled with the keys looked up through the [`KeyResolver`].
#[derive(Default)]
struct TxtCache(Mutex<HashMap<String, Txt>>);

impl TxtCache {
    fn put(&self, name: String, record: Txt) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, record);
    }
}

impl mail_auth::ResolverCache<String, Txt> for TxtCache {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        String: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        String: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
    }

    fn insert(&self, key: String, value: Txt, _: Instant) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, value);
    }
}

#[cfg(test)]
mod tests;
