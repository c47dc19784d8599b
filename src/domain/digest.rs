//! The digest as a domain value: built once per team and span from storage, then rendered by each
//! channel in its own markup: email text and HTML (`domain::render::digest`), Telegram HTML, Slack
//! Block Kit (`bots::bus::Digest`).
//!
//! Owns: who is in it (members with dones in the span, in the team's order, each done labelled by
//! kind) and who is listed as not having answered (active members without dones who were members
//! by the span's last day: nobody is "no answer" for days before they joined). It is not a
//! renderer and reads nothing but the values given.

use bots::bus::{Digest, DigestLine, DigestSection};
use chrono::NaiveDate;
use storage::{Done, Member, MemberState, Team};

/// The digest of `from..=to` for `team`, from its members and the dones of the span.
pub fn build(
    team: &Team,
    members: &[Member],
    dones: &[Done],
    from: NaiveDate,
    to: NaiveDate,
) -> Digest {
    let mut sections = Vec::new();
    let mut quiet = Vec::new();
    for m in members {
        let lines: Vec<DigestLine> = dones
            .iter()
            .filter(|d| d.member_id == m.id && !d.deleted)
            .map(|d| DigestLine {
                kind: d.kind.as_str().to_owned(),
                text: d.text.clone(),
            })
            .collect();
        if !lines.is_empty() {
            sections.push(DigestSection {
                member: m.name.clone(),
                lines,
            });
        } else if matches!(m.state, MemberState::Active) && m.created_at.date_naive() <= to {
            // `created_at`'s UTC date: a member added during the span's last day (anywhere) was
            // asked that evening; one added later was never asked about the span.
            quiet.push(m.name.clone());
        }
    }
    let span = if from == to {
        from.format("%A, %B %-d").to_string()
    } else {
        format!(
            "{} – {}",
            from.format("%A, %B %-d"),
            to.format("%A, %B %-d")
        )
    };
    Digest {
        team: team.name.clone(),
        from,
        to,
        title: format!("What {} got done on {span}", team.name),
        sections,
        quiet,
    }
}
