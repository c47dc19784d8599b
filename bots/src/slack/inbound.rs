//! From a Slack event to the bus's [`ChatReceived`].
//!
//! Owns: the mapping of a person's new or edited message to the value every chat channel hands the
//! app: the event id as the update id (Slack's retries carry the same one), `<channel>:<ts>` as the
//! message id, the thread's parent as `reply_to`, the message's `ts` as its time. It is not the
//! interpretation of the text (the app's command handler) and does not look anything up: the
//! sender's name is Slack's user id until the app resolves it from the member's link.
//!
//! Invariant: total and pure; a deletion or an ignored event maps to `None` here (the app removes
//! the dones of a deleted message from [`SlackEvent::Deleted`] directly).

use chrono::{DateTime, Utc};

use super::events::{Conversation, EventCallback, SlackEvent, ts_to_time};
use super::send::message_id;
use crate::bus::{ChatPlatform, ChatReceived};

/// A new or edited message as a [`ChatReceived`]; `received_at` stands in for an unreadable `ts`.
pub fn to_chat_received(
    callback: &EventCallback,
    received_at: DateTime<Utc>,
) -> Option<ChatReceived> {
    let (channel, conversation, user, text, ts, thread_ts, edited, at) = match &callback.event {
        SlackEvent::Posted(p) => (
            &p.channel,
            p.conversation,
            &p.user,
            &p.text,
            &p.ts,
            &p.thread_ts,
            false,
            &p.ts,
        ),
        SlackEvent::Edited(e) => (
            &e.channel,
            e.conversation,
            &e.user,
            &e.text,
            &e.ts,
            &e.thread_ts,
            true,
            &e.edited_ts,
        ),
        SlackEvent::Deleted(_) | SlackEvent::Ignored(_) => return None,
    };
    Some(ChatReceived {
        platform: ChatPlatform::Slack,
        update_id: callback.event_id.clone(),
        message_id: message_id(channel, ts),
        chat_id: channel.clone(),
        private: conversation == Conversation::Im,
        user_id: user.clone(),
        user_name: user.clone(),
        text: text.clone(),
        // A thread's first message has `thread_ts == ts`: it replies to nothing.
        reply_to: thread_ts
            .as_ref()
            .filter(|parent| *parent != ts)
            .map(|parent| message_id(channel, parent)),
        edited,
        at: ts_to_time(at).unwrap_or(received_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::events::{Deleted, Edited, Posted};

    fn callback(event: SlackEvent) -> EventCallback {
        EventCallback {
            event_id: "Ev1".into(),
            team_id: "T1".into(),
            event_time: 1764010900,
            event,
        }
    }

    #[test]
    fn a_thread_reply_names_its_prompt() {
        let r = to_chat_received(
            &callback(SlackEvent::Posted(Posted {
                channel: "C1".into(),
                conversation: Conversation::Channel,
                user: "U1".into(),
                text: "fixed #42".into(),
                ts: "1764010900.000300".into(),
                thread_ts: Some("1764010800.000100".into()),
            })),
            DateTime::UNIX_EPOCH,
        )
        .unwrap();
        assert_eq!(r.platform, ChatPlatform::Slack);
        assert_eq!(
            (r.update_id.as_str(), r.message_id.as_str()),
            ("Ev1", "C1:1764010900.000300")
        );
        assert_eq!(r.reply_to.as_deref(), Some("C1:1764010800.000100"));
        assert!(!r.private && !r.edited);
        assert_eq!(r.at.timestamp(), 1764010900);
    }

    #[test]
    fn an_edit_keeps_the_message_id_and_a_deletion_is_not_a_message() {
        let r = to_chat_received(
            &callback(SlackEvent::Edited(Edited {
                channel: "D1".into(),
                conversation: Conversation::Im,
                user: "U1".into(),
                text: "v2".into(),
                ts: "1764010900.000300".into(),
                thread_ts: None,
                edited_ts: "1764011000.000400".into(),
            })),
            DateTime::UNIX_EPOCH,
        )
        .unwrap();
        assert!(r.edited && r.private);
        assert_eq!(r.message_id, "D1:1764010900.000300");
        assert_eq!(r.at.timestamp(), 1764011000);
        let deleted = SlackEvent::Deleted(Deleted {
            channel: "D1".into(),
            conversation: Conversation::Im,
            ts: "1.1".into(),
            user: None,
        });
        assert!(to_chat_received(&callback(deleted), DateTime::UNIX_EPOCH).is_none());
    }
}
