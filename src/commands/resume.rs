//! `resume`: the daily question is on again.

use storage::{Member, MemberState};

use super::set_state;
use crate::actors::Actors;
use crate::context::AppContext;
use crate::error::AppResult;

pub fn run(app: &AppContext, actors: &Actors, member: &Member) -> AppResult<String> {
    set_state(app, actors, member.id, MemberState::Active)?;
    Ok("Welcome back: the daily question is on again.".into())
}
