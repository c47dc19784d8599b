//! donebot's slash commands on Discord: their definitions (registered on start with a bulk
//! overwrite of the global application commands) and what an invocation says to the app.
//!
//! Owns: the five commands (`/done text`, `/undo`, `/pause [until]`, `/resume`, `/link code`) and
//! the text an invocation becomes, in the shape every chat channel uses (`/done shipped it`,
//! `/start CODE` for linking, as Telegram's deep link delivers it), and recognising a link code a
//! member pastes into a DM. It is not the command handler (the app's `commands`, shared by every
//! channel).
//!
//! Invariant: mapping is total: any invocation gives a text (an unknown command `/name`, which the
//! app answers with its help), never a panic.

use serde_json::{Value, json};
use serenity::model::application::{CommandData, CommandDataOptionValue};

/// `type` of a CHAT_INPUT command and of a STRING option.
const CHAT_INPUT: u8 = 1;
const STRING: u8 = 3;

/// The body of `PUT /applications/{id}/commands`.
pub fn definitions() -> Value {
    let option = |name: &str, description: &str, required: bool| json!({"type": STRING, "name": name, "description": description, "required": required});
    let command = |name: &str, description: &str, options: Vec<Value>| {
        json!({
            "type": CHAT_INPUT,
            "name": name,
            "description": description,
            "options": options,
            // Usable in servers and in the DM with the bot.
            "dm_permission": true,
            "contexts": [0, 1],
        })
    };
    json!([
        command(
            "done",
            "Record something you got done",
            vec![option(
                "text",
                "What you got done (one thing per line)",
                true
            )]
        ),
        command("undo", "Remove your last done", vec![]),
        command(
            "pause",
            "Stop the daily question (until a date, or until /resume)",
            vec![option(
                "until",
                "The last day without questions, YYYY-MM-DD",
                false
            )]
        ),
        command("resume", "Get the daily question again", vec![]),
        command(
            "link",
            "Link your Discord account with the code from donebot",
            vec![option(
                "code",
                "The code shown in donebot's settings or email",
                true
            )]
        ),
    ])
}

fn string_option<'a>(data: &'a CommandData, name: &str) -> Option<&'a str> {
    data.options
        .iter()
        .find_map(|o| match (&o.value, o.name == name) {
            (CommandDataOptionValue::String(s), true) => Some(s.trim()),
            _ => None,
        })
}

/// The text the app gets for an invocation.
pub fn to_text(data: &CommandData) -> String {
    let name = data.name.to_ascii_lowercase();
    match name.as_str() {
        "done" => format!("/done {}", string_option(data, "text").unwrap_or_default()),
        "pause" => match string_option(data, "until").filter(|s| !s.is_empty()) {
            Some(until) => {
                let until = until.strip_prefix("until").unwrap_or(until).trim();
                format!("/pause until {until}")
            }
            None => "/pause".to_owned(),
        },
        "link" => format!("/start {}", string_option(data, "code").unwrap_or_default()),
        "undo" | "resume" => format!("/{name}"),
        other => format!("/{other}"),
    }
    .trim_end()
    .to_owned()
}

/// Length and alphabet of donebot's link codes: 15 random bytes in lower-case base32 without
/// padding (the app's `ops::create_link_code`). Keep in step with it.
const LINK_CODE_LEN: usize = 24;

/// What a DM says to the app: a link code pasted alone (or after `/link` or `/start`, typed as
/// text) becomes `/start CODE`, as Telegram delivers a deep link; anything else is as written.
///
/// A bare word counts as a code only in the codes' exact shape (24 base32 characters with a digit),
/// so a one-word done is never taken for one.
pub fn dm_text(text: &str) -> String {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    for prefix in ["/link ", "/start "] {
        if lower.starts_with(prefix) {
            let code = trimmed[prefix.len()..].trim();
            return format!("/start {code}");
        }
    }
    if is_link_code(trimmed) {
        return format!("/start {lower}");
    }
    text.to_owned()
}

fn is_link_code(word: &str) -> bool {
    word.len() == LINK_CODE_LEN
        && word
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || (b'2'..=b'7').contains(&b))
        && word.bytes().any(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(json: Value) -> CommandData {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn invocations_become_the_commands_every_channel_sends() {
        let d = data(json!({"id": "1", "name": "done", "type": 1,
            "options": [{"name": "text", "type": 3, "value": " shipped @everyone "}]}));
        assert_eq!(to_text(&d), "/done shipped @everyone");
        let d = data(json!({"id": "1", "name": "pause", "type": 1,
            "options": [{"name": "until", "type": 3, "value": "until 2026-12-24"}]}));
        assert_eq!(to_text(&d), "/pause until 2026-12-24");
        let d = data(json!({"id": "1", "name": "pause", "type": 1}));
        assert_eq!(to_text(&d), "/pause");
        let d = data(json!({"id": "1", "name": "link", "type": 1,
            "options": [{"name": "code", "type": 3, "value": "abcd2efgh3ijkl4mnop5qrst"}]}));
        assert_eq!(to_text(&d), "/start abcd2efgh3ijkl4mnop5qrst");
        assert_eq!(
            to_text(&data(json!({"id": "1", "name": "undo", "type": 1}))),
            "/undo"
        );
        assert_eq!(
            to_text(&data(json!({"id": "1", "name": "zap", "type": 1}))),
            "/zap"
        );
        assert_eq!(definitions().as_array().unwrap().len(), 5);
    }

    #[test]
    fn a_pasted_link_code_is_a_start_command_and_a_done_is_not() {
        assert_eq!(
            dm_text(" ABCD2EFGH3IJKL4MNOP5QRST\n"),
            "/start abcd2efgh3ijkl4mnop5qrst"
        );
        assert_eq!(dm_text("/link abcd"), "/start abcd");
        assert_eq!(dm_text("/START abcd"), "/start abcd");
        for done in [
            "refactoredauthentication",
            "shipped the release",
            "deployed-v2-to-production",
            "abcd2efgh3ijkl4mnop5qrs",
            "abcd2efgh3ijkl4mnop5qrst9",
        ] {
            assert_eq!(dm_text(done), done);
        }
    }
}
