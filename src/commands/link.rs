//! `start CODE` / `connect CODE`: links a member's chat account, or makes a group chat get the
//! team's digest, with a one-time code (consumed in the transaction that applies it).

use storage::{Channel, Linked, LinkedFrom};
use tracing::info;

use crate::actors::Actors;
use crate::actors::team::Reload;
use crate::context::AppContext;
use crate::error::AppResult;

pub fn run(
    app: &AppContext,
    actors: &Actors,
    channel: Channel,
    code: &str,
    from: LinkedFrom<'_>,
) -> AppResult<String> {
    match app.store.consume_link_code(code.trim(), from, app.now())? {
        Linked::Member(m) => {
            info!(member_id = m.id, channel = %channel, "chat account linked");
            actors.team(m.team_id)?.do_send(Reload);
            Ok(format!(
                "Hi {}! You're linked: I'll ask you here what you got done each workday. Just reply with one line per thing.",
                m.name
            ))
        }
        Linked::TeamChat(t) => {
            info!(team_id = t.id, channel = %channel, "team chat connected");
            actors.team(t.id)?.do_send(Reload);
            Ok(format!("This chat now gets {}'s morning digest.", t.name))
        }
    }
}
