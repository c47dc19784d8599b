//! `today`: the member's dones of their local today.

use storage::Member;

use super::member_today;
use crate::context::AppContext;
use crate::error::AppResult;

pub fn run(app: &AppContext, member: &Member) -> AppResult<String> {
    let day = member_today(app, member)?;
    let mine: Vec<String> = app
        .store
        .team_dones(member.team_id, day, day)?
        .into_iter()
        .filter(|d| d.member_id == member.id)
        .map(|d| format!("- {}", d.text))
        .collect();
    Ok(if mine.is_empty() {
        format!("Nothing recorded for {day} yet.")
    } else {
        format!("{day}:\n{}", mine.join("\n"))
    })
}
