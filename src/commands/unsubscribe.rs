//! `unsubscribe`: nothing more is sent to the member until they resume.

use storage::{Member, MemberState};

use super::set_state;
use crate::app::App;
use crate::error::AppResult;

pub fn run(app: &App, member: &Member) -> AppResult<String> {
    set_state(app, member.id, MemberState::Unsubscribed { at: app.now() })?;
    Ok("You are unsubscribed from donebot. /resume if you change your mind.".into())
}
