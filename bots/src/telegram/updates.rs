//! From a Telegram `Update` to the bus's [`ChatReceived`].
//!
//! Owns: which updates carry something for the app (a `message` or an `edited_message` with text or a
//! caption, from a person), and the normalisation of commands (`/done@donebot x` becomes `/done x`; a
//! command addressed to another bot in a group is not ours). It does not interpret commands or text:
//! the app does (`/start CODE`, `/done`, `/undo`, ...).
//!
//! Invariant: mapping is pure and total: any update maps to `Some` or `None`, never a panic; `None`
//! means "nothing for the app", and the caller still confirms the update so it is not redelivered.

use teloxide::types::{Message, Update, UpdateKind};

use crate::bus::{ChatEvent, ChatReceived};

/// The update kinds donebot asks for (`allowed_updates`); Telegram remembers the list, and without
/// `edited_message` edits never arrive.
pub const ALLOWED_UPDATES: [&str; 2] = ["message", "edited_message"];

/// Maps an update; `bot_username` (from `getMe`, without `@`) decides whose `/command@name` it is.
pub fn to_chat_received(update: &Update, bot_username: Option<&str>) -> Option<ChatReceived> {
    let (message, edited) = match &update.kind {
        UpdateKind::Message(m) => (m, false),
        UpdateKind::EditedMessage(m) => (m, true),
        _ => return None,
    };
    let from = message.from.as_ref().filter(|u| !u.is_bot)?;
    let text = message.text().or_else(|| message.caption())?;
    let text = normalise_command(text, bot_username)?;
    let at = if edited {
        message.edit_date().copied().unwrap_or(message.date)
    } else {
        message.date
    };
    Some(ChatReceived {
        channel: super::channel::NAME.to_owned(),
        update_id: update.id.0.to_string(),
        message_id: message.id.0.to_string(),
        chat_id: message.chat.id.0.to_string(),
        private: message.chat.is_private(),
        user_id: from.id.0.to_string(),
        user_name: user_name(from),
        text,
        reply_to: reply_to(message),
        event: if edited {
            ChatEvent::Edit
        } else {
            ChatEvent::Message
        },
        at,
        deferred: false,
        answer_via: None,
    })
}

fn reply_to(message: &Message) -> Option<String> {
    message.reply_to_message().map(|m| m.id.0.to_string())
}

fn user_name(user: &teloxide::types::User) -> String {
    let full = user.full_name();
    if full.trim().is_empty() {
        user.username.clone().unwrap_or_default()
    } else {
        full
    }
}

/// `/cmd@bot rest` → `/cmd rest` when `bot` is us (or we do not know our name yet); `None` when the
/// command is addressed to another bot. Plain text is returned as is.
pub fn normalise_command(text: &str, bot_username: Option<&str>) -> Option<String> {
    let Some(rest_of_text) = text.strip_prefix('/') else {
        return Some(text.to_owned());
    };
    let end = rest_of_text
        .find(char::is_whitespace)
        .unwrap_or(rest_of_text.len());
    let (word, rest) = rest_of_text.split_at(end);
    let Some((command, addressee)) = word.split_once('@') else {
        return Some(text.to_owned());
    };
    match bot_username {
        Some(ours) if !addressee.eq_ignore_ascii_case(ours.trim_start_matches('@')) => None,
        _ => Some(format!("/{command}{rest}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Through text, as on the wire: teloxide's flattened ids do not parse from a `Value` directly.
    fn update(json: serde_json::Value) -> Update {
        serde_json::from_str(&json.to_string()).unwrap()
    }

    fn private_message(text: &str) -> serde_json::Value {
        serde_json::json!({"message_id": 42, "date": 1764010800,
            "from": {"id": 555, "is_bot": false, "first_name": "Ada", "last_name": "Lovelace", "username": "ada"},
            "chat": {"id": 555, "type": "private", "first_name": "Ada"},
            "text": text,
            "reply_to_message": {"message_id": 41, "from": {"id": 999, "is_bot": true, "first_name": "donebot"},
                "chat": {"id": 555, "type": "private"}, "date": 1764007200, "text": "What did you get done today?"}})
    }

    #[test]
    fn a_reply_in_a_private_chat() {
        let u = update(
            serde_json::json!({"update_id": 10001, "message": private_message("shipped\nfixed #42")}),
        );
        let r = to_chat_received(&u, Some("donebot")).unwrap();
        assert_eq!(
            (
                r.update_id.as_str(),
                r.message_id.as_str(),
                r.chat_id.as_str()
            ),
            ("10001", "42", "555")
        );
        assert_eq!(
            (r.user_id.as_str(), r.user_name.as_str()),
            ("555", "Ada Lovelace")
        );
        assert_eq!(r.text, "shipped\nfixed #42");
        assert_eq!(r.reply_to.as_deref(), Some("41"));
        assert!(r.private && r.event == ChatEvent::Message);
        assert_eq!(r.at.timestamp(), 1764010800);
    }

    #[test]
    fn an_edit_carries_the_edited_message_id_and_edit_date() {
        let mut m = private_message("shipped v2");
        m["edit_date"] = serde_json::json!(1764011000);
        let u = update(serde_json::json!({"update_id": 10002, "edited_message": m}));
        let r = to_chat_received(&u, None).unwrap();
        assert_eq!(r.event, ChatEvent::Edit);
        assert_eq!(r.message_id, "42");
        assert_eq!(r.at.timestamp(), 1764011000);
    }

    #[test]
    fn commands_are_normalised_for_us_and_ignored_for_others() {
        assert_eq!(
            normalise_command("/done@DoneBot fixed it", Some("donebot")).as_deref(),
            Some("/done fixed it")
        );
        assert_eq!(
            normalise_command("/undo@donebot", Some("donebot")).as_deref(),
            Some("/undo")
        );
        assert_eq!(normalise_command("/done@otherbot x", Some("donebot")), None);
        assert_eq!(
            normalise_command("/start ABC_123", Some("donebot")).as_deref(),
            Some("/start ABC_123")
        );
        assert_eq!(
            normalise_command("/today@whoever", None).as_deref(),
            Some("/today")
        );
        assert_eq!(
            normalise_command("a@b /c", Some("donebot")).as_deref(),
            Some("a@b /c")
        );
        assert_eq!(
            normalise_command("/", Some("donebot")).as_deref(),
            Some("/")
        );
    }

    #[test]
    fn a_group_message_is_not_private() {
        let u = update(
            serde_json::json!({"update_id": 7, "message": {"message_id": 3, "date": 1764010800,
            "from": {"id": 555, "is_bot": false, "first_name": "Ada"},
            "chat": {"id": -100123, "type": "supergroup", "title": "Team"},
            "text": "/done@donebot wrote docs",
            "entities": [{"type": "bot_command", "offset": 0, "length": 13}]}}),
        );
        let r = to_chat_received(&u, Some("donebot")).unwrap();
        assert!(!r.private);
        assert_eq!(
            (r.chat_id.as_str(), r.text.as_str(), r.reply_to),
            ("-100123", "/done wrote docs", None)
        );
    }

    #[test]
    fn updates_without_text_or_from_a_bot_are_not_for_the_app() {
        let mut m = private_message("x");
        m.as_object_mut().unwrap().remove("text");
        m["sticker"] = serde_json::json!(null);
        assert!(
            to_chat_received(
                &update(serde_json::json!({"update_id": 1, "message": m})),
                None
            )
            .is_none()
        );
        let mut m = private_message("x");
        m["from"]["is_bot"] = serde_json::json!(true);
        assert!(
            to_chat_received(
                &update(serde_json::json!({"update_id": 2, "message": m})),
                None
            )
            .is_none()
        );
        let poll = serde_json::json!({"update_id": 3, "poll_answer": {"poll_id": "1", "option_ids": [], "user": {"id": 1, "is_bot": false, "first_name": "A"}}});
        assert!(to_chat_received(&update(poll), None).is_none());
    }
}
