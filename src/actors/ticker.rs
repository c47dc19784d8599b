//! The ticker turns the clock into `Tick`s: every team actor and the outbox look at the time on
//! each tick. With the real clock that is every `[schedule] tick_seconds`; with a manual clock it is
//! whenever the clock is moved, so a test reaches 18:00 by setting the clock, not by waiting.

use tokio::sync::watch;

use crate::actors::Actors;
use crate::actors::outbox::Wake;
use crate::actors::team::Tick;
use crate::context::AppContext;

/// Runs until `shutdown` turns true (or its sender is dropped).
pub async fn run(
    app: AppContext,
    actors: Actors,
    outbox: actix::Addr<crate::actors::outbox::OutboxActor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut jumps = app.clock.jumps();
    loop {
        let now = app.now();
        for team in actors.teams() {
            team.do_send(Tick { now });
        }
        outbox.do_send(Wake);
        let stop = match jumps.as_mut() {
            Some(rx) => tokio::select! {
                changed = rx.changed() => changed.is_err(),
                _ = shutdown.changed() => true,
            },
            // A real delay is the point here: the wall clock is looked at every tick.
            None => tokio::select! {
                _ = tokio::time::sleep(app.settings.tick) => false,
                _ = shutdown.changed() => true,
            },
        };
        if stop || *shutdown.borrow() {
            return;
        }
    }
}
