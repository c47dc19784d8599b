//! `undo`: removes the member's latest done.

use storage::Member;

use crate::context::AppContext;
use crate::error::AppResult;

pub fn run(app: &AppContext, member: &Member) -> AppResult<String> {
    Ok(match app.store.last_done_of(member.id)? {
        Some(d) => {
            app.store
                .update_done(d.id, app.now(), |d| d.deleted = true)?;
            app.store.flush()?;
            format!("Removed: {}", d.text)
        }
        None => "There is nothing to undo.".into(),
    })
}
