//! The actors of a running server. Each owns one concern and talks to the others only through
//! messages (see `docs/architecture.md`):
//! - [`team::TeamActor`]: one per team, supervised; owns the team's schedules, sends its prompts and
//!   digests, records its dones.
//! - [`outbox::OutboxActor`]: walks each outgoing email through its durable state machine.
//! - [`inbound::InboundActor`]: makes received mail durable, then turns it into dones or commands.
//! - [`chat::ChatActor`]: what people write to the bot on a chat platform: links, commands, dones.
//! - [`ticker`]: turns the clock into `Tick`s for the team actors.

pub mod chat;
pub mod inbound;
pub mod outbox;
pub mod team;
pub mod ticker;
