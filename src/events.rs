//! Facts the running server publishes as they happen: tests wait on them instead of sleeping, and
//! the web UI's live feed can follow them.

use storage::{DoneId, InboundId, MemberId, OutboxId, OutboxKind, PromptId, TeamId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    PromptQueued {
        team: TeamId,
        member: MemberId,
        prompt: PromptId,
    },
    DigestQueued {
        team: TeamId,
        member: MemberId,
    },
    DonesRecorded {
        team: TeamId,
        member: MemberId,
        dones: Vec<DoneId>,
    },
    InboundProcessed {
        inbound: InboundId,
        outcome: String,
    },
    InboundFailed {
        inbound: InboundId,
        error: String,
    },
    EmailSent {
        outbox: OutboxId,
        kind: OutboxKind,
    },
    EmailDeferred {
        outbox: OutboxId,
        reply: String,
    },
    EmailFailed {
        outbox: OutboxId,
        reply: String,
    },
    /// A chat message went out on its channel.
    ChatSent {
        outbox: OutboxId,
        channel: String,
        kind: OutboxKind,
    },
    ChatDeferred {
        outbox: OutboxId,
        reply: String,
    },
    ChatFailed {
        outbox: OutboxId,
        reply: String,
    },
    TeamActorRestarted {
        team: TeamId,
    },
    /// Members' accounts were looked up by email on a chat channel (Slack): `linked` of them newly.
    AccountsLookedUp {
        channel: String,
        linked: Vec<MemberId>,
    },
    /// A chat message taken into the chat log was processed (or left there for the next start).
    ChatProcessed {
        channel: String,
        update: String,
    },
}
