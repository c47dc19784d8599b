//! The Slack channel actor: `ChatSend` in, posted to Slack.
//!
//! Owns: building the Web API client and the request checks from a validated config, and the
//! handler of [`ChatSend`]. Sends run concurrently: a handler returns a future that does not hold
//! the actor, so a `429` wait for one channel does not stall the mailbox. It hands out the
//! [`SlackApi`] (for linking members by email and reading their zone) and the [`SlackRequests`] (for
//! the app's `/slack/events` and `/slack/commands` routes).
//!
//! Invariant: the actor holds no state a restart would lose beyond the per-key progress of sends in
//! flight (the durable outbox owns what is owed).

use std::sync::Arc;

use actix::{Actor, Context, Handler, ResponseFuture};

use super::client::SlackApi;
use super::config::{SlackConfig, SlackConfigError};
use super::requests::SlackRequests;
use super::send::Deliverer;
use crate::bus::{ChatSend, ChatSendError, ChatSent};

pub struct SlackChannel {
    deliverer: Arc<Deliverer>,
    requests: SlackRequests,
}

impl SlackChannel {
    /// Validates `config` and builds the channel; start it with `Actor::start`.
    pub fn new(config: &SlackConfig) -> Result<Self, SlackConfigError> {
        let config = config.to_valid()?;
        let api = SlackApi::new(&config)?;
        Ok(SlackChannel {
            deliverer: Arc::new(Deliverer::new(api)),
            requests: SlackRequests::new(&config.signing_secret),
        })
    }

    /// The Web API client (linking by email, `users.info`, slash command answers).
    pub fn api(&self) -> SlackApi {
        self.deliverer.api().clone()
    }

    /// The checks for the app's `/slack/events` and `/slack/commands` routes.
    pub fn requests(&self) -> SlackRequests {
        self.requests.clone()
    }
}

impl Actor for SlackChannel {
    type Context = Context<Self>;
}

impl Handler<ChatSend> for SlackChannel {
    type Result = ResponseFuture<Result<ChatSent, ChatSendError>>;

    fn handle(&mut self, send: ChatSend, _ctx: &mut Self::Context) -> Self::Result {
        let deliverer = self.deliverer.clone();
        Box::pin(async move {
            let result = deliverer.deliver(&send).await;
            match &result {
                Ok(sent) => {
                    tracing::info!(key = %send.key, chat_id = %send.chat_id, parts = sent.message_ids.len(), "slack sent")
                }
                Err(e) => {
                    tracing::info!(key = %send.key, chat_id = %send.chat_id, error = %e, "slack not sent")
                }
            }
            result
        })
    }
}
