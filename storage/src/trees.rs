//! The sled trees, by name. This list is the on-disk schema; docs/architecture.md mirrors it.

/// Every tree of the database. Index trees map a composite key to nothing (or to an id); the key
/// layout is given next to each field. All integers are big-endian.
#[derive(Clone)]
pub struct Trees {
    /// `schema_version`, secrets (`secret.NAME`).
    pub meta: sled::Tree,
    /// schedule name → instant (JSON) up to which its fires were handled.
    pub cursors: sled::Tree,
    /// team id → [`crate::Team`].
    pub teams: sled::Tree,
    /// lowercased team name → team id.
    pub teams_by_name: sled::Tree,
    /// member id → [`crate::Member`].
    pub members: sled::Tree,
    /// team id ‖ member id → ().
    pub members_by_team: sled::Tree,
    /// lowercased email ‖ 0 ‖ team id → member id.
    pub members_by_email: sled::Tree,
    /// prompt id → [`crate::Prompt`].
    pub prompts: sled::Tree,
    /// member id ‖ day → prompt id (one prompt per member per day).
    pub prompts_by_member_day: sled::Tree,
    /// Message-ID of a sent prompt → prompt id.
    pub prompts_by_message_id: sled::Tree,
    /// done id → [`crate::Done`].
    pub dones: sled::Tree,
    /// team id ‖ day ‖ first done id of a reply → the reply's other done ids, 8 bytes each (one
    /// entry a reply; entries of earlier versions are one a done, with an empty value).
    pub dones_by_team_day: sled::Tree,
    /// member id ‖ first done id of a reply → the reply's other done ids, 8 bytes each (a member's
    /// dones in order of creation, one entry a reply; entries of earlier versions are one a done,
    /// with an empty value, which reads the same).
    pub dones_by_member: sled::Tree,
    /// channel ‖ 0 ‖ source message id → JSON list of done ids (idempotency of replies).
    pub reply_keys: sled::Tree,
    /// outbox id → [`crate::OutboxMessage`] (without its body).
    pub outbox: sled::Tree,
    /// outbox id → raw RFC 5322 bytes (deleted some time after the message was sent or failed,
    /// see [`crate::Store::prune_outbox_bodies`]).
    pub outbox_bodies: sled::Tree,
    /// due millis ‖ outbox id → () for messages in `queued` or `deferred`.
    pub outbox_due: sled::Tree,
    /// outbox id → () for messages `sending` durably: written by earlier versions only (claims
    /// are held in memory now), emptied at start-up.
    pub outbox_inflight: sled::Tree,
    /// idempotency key → outbox id (a key is enqueued once, ever).
    pub outbox_keys: sled::Tree,
    /// inbound id → [`crate::InboundRecord`] (without its body).
    pub inbound: sled::Tree,
    /// inbound id → raw bytes as received.
    pub inbound_bodies: sled::Tree,
    /// inbound id → () for records still `pending`.
    pub inbound_pending: sled::Tree,
    /// Message-ID of an inbound message → inbound id (the same mail delivered twice is one record).
    pub inbound_by_message_id: sled::Tree,
    /// SHA-256 of an API token → [`crate::ApiToken`].
    pub tokens: sled::Tree,
    /// counter name → i64 (outbox state counts, totals for /metrics).
    pub counters: sled::Tree,
    /// one-time link code → [`crate::LinkCode`] (linking a chat account, connecting a group chat).
    pub link_codes: sled::Tree,
    /// platform ‖ 0 ‖ platform user/chat id → member id.
    pub members_by_identity: sled::Tree,
    /// The search index's change log: sequence → unix millis ‖ done ids. Appended in the same
    /// transaction as every write of a done, removed once the index has committed it (see
    /// [`crate::search`]).
    pub search_changes: sled::Tree,
    /// chat log id → a chat message taken for later processing (opaque bytes, the app's JSON);
    /// removed once processed (see [`crate::chat_log`]).
    pub chat_log: sled::Tree,
    /// the platform's delivery key (`slack.Ev123`) → unix seconds ‖ chat log id: a redelivery is
    /// taken once. Forgotten after a week.
    pub chat_log_keys: sled::Tree,
    /// channel ‖ 0 ‖ chat ‖ 0 ‖ message id of a team's prompt posted in a group chat → team id ‖
    /// day (replies in its thread are that day's dones).
    pub chat_threads: sled::Tree,
    /// SHA-256 of a sign-in link's secret → [`crate::SignInLink`] (removed when used).
    pub sign_ins: sled::Tree,
    /// SHA-256 of a session cookie's secret → [`crate::WebSession`].
    pub web_sessions: sled::Tree,
}

pub(crate) const NAMES: &[&str] = &[
    "meta",
    "cursors",
    "teams",
    "teams_by_name",
    "members",
    "members_by_team",
    "members_by_email",
    "prompts",
    "prompts_by_member_day",
    "prompts_by_message_id",
    "dones",
    "dones_by_team_day",
    "dones_by_member",
    "reply_keys",
    "outbox",
    "outbox_bodies",
    "outbox_due",
    "outbox_inflight",
    "outbox_keys",
    "inbound",
    "inbound_bodies",
    "inbound_pending",
    "inbound_by_message_id",
    "tokens",
    "counters",
    "link_codes",
    "members_by_identity",
    "search_changes",
    "chat_log",
    "chat_log_keys",
    "chat_threads",
    "sign_ins",
    "web_sessions",
];

impl Trees {
    pub(crate) fn open(db: &sled::Db) -> sled::Result<Trees> {
        let t = |name: &str| db.open_tree(name);
        Ok(Trees {
            meta: t("meta")?,
            cursors: t("cursors")?,
            teams: t("teams")?,
            teams_by_name: t("teams_by_name")?,
            members: t("members")?,
            members_by_team: t("members_by_team")?,
            members_by_email: t("members_by_email")?,
            prompts: t("prompts")?,
            prompts_by_member_day: t("prompts_by_member_day")?,
            prompts_by_message_id: t("prompts_by_message_id")?,
            dones: t("dones")?,
            dones_by_team_day: t("dones_by_team_day")?,
            dones_by_member: t("dones_by_member")?,
            reply_keys: t("reply_keys")?,
            outbox: t("outbox")?,
            outbox_bodies: t("outbox_bodies")?,
            outbox_due: t("outbox_due")?,
            outbox_inflight: t("outbox_inflight")?,
            outbox_keys: t("outbox_keys")?,
            inbound: t("inbound")?,
            inbound_bodies: t("inbound_bodies")?,
            inbound_pending: t("inbound_pending")?,
            inbound_by_message_id: t("inbound_by_message_id")?,
            tokens: t("tokens")?,
            counters: t("counters")?,
            link_codes: t("link_codes")?,
            members_by_identity: t("members_by_identity")?,
            search_changes: t("search_changes")?,
            chat_log: t("chat_log")?,
            chat_log_keys: t("chat_log_keys")?,
            chat_threads: t("chat_threads")?,
            sign_ins: t("sign_ins")?,
            web_sessions: t("web_sessions")?,
        })
    }
}
