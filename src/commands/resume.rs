//! `resume`: the daily question is on again.

use storage::{Member, MemberState};

use super::set_state;
use crate::app::App;
use crate::error::AppResult;

pub fn run(app: &App, member: &Member) -> AppResult<String> {
    set_state(app, member.id, MemberState::Active)?;
    Ok("Welcome back: the daily question is on again.".into())
}
