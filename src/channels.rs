//! The chat channel registry: the one place where the app lists its chat channels, and the set of
//! channels running in a server.
//!
//! Adding a channel is one line in [`REGISTRY`] (plus its module under `bots/`, its config docs and
//! its tests; see "Adding a channel" in `docs/architecture.md`). Everything else in the app goes
//! through the seam of `bots::channel`: the config table is read by the spec, the channel is
//! started by [`start`] with the chat actor as its inbox, its routes are mounted by the web server,
//! its messages are sent by the outbox actor, its deep links are made by the link-code route.
//!
//! Invariant: channel names are unique and valid `storage::Channel` names (checked by a test), so
//! a name read from storage, config or the wire maps to at most one running channel.

use std::collections::HashMap;
use std::sync::Arc;

use bots::channel::{ChannelSpec, ChatChannel, Inbox};
use storage::Channel;

/// Every chat channel donebot knows, one line each.
pub const REGISTRY: &[ChannelSpec] = &[
    bots::telegram::SPEC,
    bots::slack::SPEC,
    bots::discord::SPEC,
    bots::memory::SPEC,
];

/// The registry entry named `name`.
pub fn spec(name: &str) -> Option<&'static ChannelSpec> {
    REGISTRY.iter().find(|s| s.name == name)
}

/// The chat channel named by an API or CLI argument (`"telegram"`).
pub fn parse(name: &str) -> Option<Channel> {
    spec(name).and_then(|s| Channel::try_new(s.name))
}

/// The channels running in a server, by name.
#[derive(Clone, Default)]
pub struct Running(Arc<HashMap<Channel, Arc<dyn ChatChannel>>>);

impl Running {
    pub fn get(&self, channel: Channel) -> Option<&Arc<dyn ChatChannel>> {
        self.0.get(&channel)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn ChatChannel>> {
        self.0.values()
    }

    /// Stops every channel's background work (polling).
    pub fn stop(&self) {
        for c in self.0.values() {
            c.stop();
        }
    }
}

/// Starts every configured channel, delivering to `inbox`.
pub fn start(
    configs: &[Arc<dyn bots::channel::ChannelConfig>],
    inbox: &Inbox,
) -> anyhow::Result<Running> {
    let mut running = HashMap::new();
    for config in configs {
        let name = config.name();
        let channel = Channel::try_new(name)
            .ok_or_else(|| anyhow::anyhow!("[{name}]: not a valid channel name"))?;
        let started = config
            .start(inbox.clone())
            .map_err(|e| anyhow::anyhow!("[{name}] {e}"))?;
        tracing::info!(channel = name, "chat channel started");
        running.insert(channel, started);
    }
    Ok(Running(Arc::new(running)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_valid() {
        let mut seen = std::collections::HashSet::new();
        for spec in REGISTRY {
            assert!(bots::channel::valid_name(spec.name), "{}", spec.name);
            assert!(
                Channel::try_new(spec.name).is_some_and(|c| c.is_chat()),
                "{}",
                spec.name
            );
            assert!(seen.insert(spec.name), "{} twice", spec.name);
        }
    }
}
