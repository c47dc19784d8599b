//! `unsubscribe`: nothing more is sent to the member until they resume.

use storage::{Member, MemberState};

use super::set_state;
use crate::actors::Actors;
use crate::context::AppContext;
use crate::error::AppResult;

pub fn run(app: &AppContext, actors: &Actors, member: &Member) -> AppResult<String> {
    set_state(
        app,
        actors,
        member.id,
        MemberState::Unsubscribed { at: app.now() },
    )?;
    Ok("You are unsubscribed from donebot. /resume if you change your mind.".into())
}
