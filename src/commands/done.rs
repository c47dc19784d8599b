//! `done TEXT` (or a plain message): records each line as a done of the day it answers, through
//! the member's team actor, flushed before the answer. An edited message replaces its dones; a
//! deleted one removes them ([`retract`]).

use chrono::NaiveDate;
use storage::{Channel, Member, Prompt, RecordOutcome, Source};

use super::member_today;
use crate::actors::Actors;
use crate::actors::team::RecordReply;
use crate::context::AppContext;
use crate::error::AppResult;

/// Where the text came from: the channel's message key (`telegram:CHAT:MESSAGE`, idempotency of
/// a redelivered message), the prompt it answers if known, and whether it edits that message.
#[derive(Debug, Clone)]
pub struct Origin {
    pub channel: Channel,
    pub message_key: Option<String>,
    pub answers: Option<Prompt>,
    /// The day the text counts for, when the channel knows it (a reply in the thread of a team's
    /// prompt); else the answered prompt's, else the member's latest prompt's, else their today.
    pub day: Option<NaiveDate>,
    pub edit: bool,
}

pub async fn run(
    app: &AppContext,
    actors: &Actors,
    member: &Member,
    text: &str,
    origin: Origin,
) -> AppResult<Option<String>> {
    let prompt = match origin.answers {
        Some(p) => Some(p),
        // The day is known; the member's latest prompt may be another day's.
        None if origin.day.is_some() => None,
        None => app.store.latest_prompt(member.id)?,
    };
    let day: NaiveDate = match (origin.day, &prompt) {
        (Some(day), _) => day,
        (None, Some(p)) => p.day,
        (None, None) => member_today(app, member)?,
    };
    let source = Source {
        channel: origin.channel,
        message_id: origin.message_key,
        prompt_id: prompt.as_ref().map(|p| p.id),
        inbound_id: None,
    };
    let outcome = actors
        .team(member.team_id)?
        .send(RecordReply {
            member: member.id,
            day,
            text: text.to_string(),
            source,
            replace: origin.edit,
            received: None,
        })
        .await??;
    app.store.flush_async().await?;
    tracing::debug!(
        member_id = member.id,
        edited = origin.edit,
        ?outcome,
        "chat message recorded"
    );
    Ok(match outcome {
        RecordOutcome::Recorded(ids) if origin.edit && ids.is_empty() => Some(format!(
            "Updated: that message has no work in it any more, so it adds nothing to {day}."
        )),
        RecordOutcome::Recorded(ids) if origin.edit => {
            Some(format!("Updated: {} for {day}.", plural(ids.len())))
        }
        RecordOutcome::Recorded(ids) => Some(format!("Got it: {} for {day}.", plural(ids.len()))),
        RecordOutcome::Duplicate(_) => None,
    })
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 done".into()
    } else {
        format!("{n} dones")
    }
}

/// A deleted message: the dones it recorded are removed (kept, marked deleted, as an edit
/// leaves them), durably; nothing is said back, there is no message left to answer.
pub async fn retract(
    app: &AppContext,
    actors: &Actors,
    member: &Member,
    origin: Origin,
) -> AppResult<()> {
    let Some(message_key) = origin.message_key else {
        return Ok(());
    };
    let day = member_today(app, member)?;
    let outcome = actors
        .team(member.team_id)?
        .send(RecordReply {
            member: member.id,
            day,
            text: String::new(),
            source: Source {
                channel: origin.channel,
                message_id: Some(message_key),
                prompt_id: None,
                inbound_id: None,
            },
            replace: true,
            received: None,
        })
        .await??;
    app.store.flush_async().await?;
    tracing::debug!(
        member_id = member.id,
        ?outcome,
        "chat message deleted; its dones removed"
    );
    Ok(())
}
