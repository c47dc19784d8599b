//! Slash commands: the `application/x-www-form-urlencoded` body Slack POSTs to `/slack/commands`,
//! the `/done` sub-commands it carries, and the ephemeral answer.
//!
//! Owns: reading the form (`command`, `text`, `user_id`, `user_name`, `team_id`, `channel_id`,
//! `response_url`, `trigger_id`), the words of `/done` (`/done <text>`, `/done undo`, `/done pause
//! until YYYY-MM-DD`, `/done resume`, `/done help`), and the JSON of an ephemeral answer. It is not
//! the signature check ([`super::signing`], first) nor the command handler (the app's, shared by every
//! channel): this file only says which command a person typed.
//!
//! Invariant: parsing is total: any body gives a [`SlashCommand`] or a [`CommandError`], any text a
//! [`DoneCommand`] (a mistyped sub-command is `Invalid` with a message for the person, never a done
//! recorded by accident: `/done pause until tomorrow` is not the done "pause until tomorrow").

use chrono::NaiveDate;

/// Slack's slash command bodies are well under 4 KB; larger ones are refused before parsing.
pub const MAX_COMMAND_BODY: usize = 16 * 1024;

/// One slash command invocation, as Slack posts it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlashCommand {
    /// `/done` (as configured in the app's settings).
    pub command: String,
    /// What follows the command, as typed.
    pub text: String,
    pub user_id: String,
    pub user_name: String,
    pub team_id: String,
    pub channel_id: String,
    /// Where later answers go (up to 5 times within 30 minutes).
    pub response_url: String,
    pub trigger_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("the body is larger than {MAX_COMMAND_BODY} bytes")]
    TooLarge,
    #[error("not a slash command: no {0}")]
    Missing(&'static str),
}

/// Parses the (already verified) body of a `POST /slack/commands`.
pub fn parse_slash_command(body: &[u8]) -> Result<SlashCommand, CommandError> {
    if body.len() > MAX_COMMAND_BODY {
        return Err(CommandError::TooLarge);
    }
    let mut c = SlashCommand::default();
    for (key, value) in url::form_urlencoded::parse(body) {
        let field = match key.as_ref() {
            "command" => &mut c.command,
            "text" => &mut c.text,
            "user_id" => &mut c.user_id,
            "user_name" => &mut c.user_name,
            "team_id" => &mut c.team_id,
            "channel_id" => &mut c.channel_id,
            "response_url" => &mut c.response_url,
            "trigger_id" => &mut c.trigger_id,
            _ => continue,
        };
        *field = value.into_owned();
    }
    if c.command.is_empty() {
        return Err(CommandError::Missing("command"));
    }
    if c.user_id.is_empty() {
        return Err(CommandError::Missing("user_id"));
    }
    Ok(c)
}

/// What `/done ...` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoneCommand {
    /// `/done shipped the release`: record a done (one per line).
    Done(String),
    /// `/done undo`: remove the last done.
    Undo,
    /// `/done pause until 2026-12-24`: no prompts up to and including that day.
    Pause { until: NaiveDate },
    /// `/done resume`: prompts again.
    Resume,
    /// `/done link CODE`: link this Slack account to a member with a one-time code (when the
    /// member's Slack address differs from the one donebot has).
    Link(String),
    /// `/done` or `/done help`.
    Help,
    /// A sub-command with a mistake; the text says what to type instead.
    Invalid(String),
}

/// The usage line shown for `/done help` and after a mistake.
pub const USAGE: &str = "`/done <what you got done>` records a done (one per line) · `/done undo` removes \
     your last one · `/done pause until YYYY-MM-DD` stops the prompts until then · `/done resume`";

impl DoneCommand {
    pub fn parse(text: &str) -> DoneCommand {
        let text = text.trim();
        let (word, rest) = text
            .split_once(char::is_whitespace)
            .map_or((text, ""), |(w, r)| (w, r.trim()));
        match word.to_ascii_lowercase().as_str() {
            "" | "help" if rest.is_empty() => DoneCommand::Help,
            "undo" if rest.is_empty() => DoneCommand::Undo,
            "resume" if rest.is_empty() => DoneCommand::Resume,
            // One word after `link`: a code. "link the two accounts" is a done.
            "link" if !rest.is_empty() && !rest.contains(char::is_whitespace) => {
                DoneCommand::Link(rest.to_owned())
            }
            "pause" => parse_pause(rest),
            _ => DoneCommand::Done(text.to_owned()),
        }
    }
}

fn parse_pause(rest: &str) -> DoneCommand {
    let date = rest
        .strip_prefix("until")
        .map(str::trim)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    match date {
        Some(until) => DoneCommand::Pause { until },
        None => DoneCommand::Invalid(format!(
            "To pause, type `/done pause until YYYY-MM-DD` (for example `/done pause until 2026-12-24`). {USAGE}"
        )),
    }
}

/// The immediate answer to a slash command, seen only by the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EphemeralAnswer {
    pub response_type: &'static str,
    pub text: String,
}

impl EphemeralAnswer {
    pub fn new(text: impl Into<String>) -> Self {
        EphemeralAnswer {
            response_type: "ephemeral",
            text: text.into(),
        }
    }

    /// The JSON body (`Content-Type: application/json`).
    pub fn to_json(&self) -> String {
        serde_json::json!({"response_type": self.response_type, "text": self.text}).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slash_command_body_is_read() {
        let body = b"token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&team_domain=example&channel_id=C2147483705&channel_name=test&user_id=U2147483697&user_name=Steve&command=%2Fdone&text=shipped+the+release+%26+docs&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1234%2F5678&trigger_id=13345224609.738474920.8088930838d88f008e0";
        let c = parse_slash_command(body).unwrap();
        assert_eq!(c.command, "/done");
        assert_eq!(c.text, "shipped the release & docs");
        assert_eq!(
            (c.user_id.as_str(), c.user_name.as_str()),
            ("U2147483697", "Steve")
        );
        assert_eq!(
            (c.team_id.as_str(), c.channel_id.as_str()),
            ("T0001", "C2147483705")
        );
        assert_eq!(c.response_url, "https://hooks.slack.com/commands/1234/5678");
        assert_eq!(c.trigger_id, "13345224609.738474920.8088930838d88f008e0");
    }

    #[test]
    fn bodies_without_a_command_or_user_or_too_large_are_refused() {
        assert_eq!(
            parse_slash_command(b"user_id=U1"),
            Err(CommandError::Missing("command"))
        );
        assert_eq!(
            parse_slash_command(b"command=%2Fdone"),
            Err(CommandError::Missing("user_id"))
        );
        assert_eq!(
            parse_slash_command(&vec![b'a'; MAX_COMMAND_BODY + 1]),
            Err(CommandError::TooLarge)
        );
    }

    #[test]
    fn done_subcommands() {
        assert_eq!(
            DoneCommand::parse("shipped it"),
            DoneCommand::Done("shipped it".into())
        );
        assert_eq!(DoneCommand::parse("  undo "), DoneCommand::Undo);
        assert_eq!(DoneCommand::parse("Undo"), DoneCommand::Undo);
        assert_eq!(DoneCommand::parse("resume"), DoneCommand::Resume);
        assert_eq!(DoneCommand::parse(""), DoneCommand::Help);
        assert_eq!(DoneCommand::parse("help"), DoneCommand::Help);
        assert_eq!(
            DoneCommand::parse("pause until 2026-12-24"),
            DoneCommand::Pause {
                until: NaiveDate::from_ymd_opt(2026, 12, 24).unwrap()
            }
        );
        // A done that starts with a command word is still a done.
        assert_eq!(
            DoneCommand::parse("undo the migration, for real"),
            DoneCommand::Done("undo the migration, for real".into())
        );
        assert_eq!(
            DoneCommand::parse("help the new hire set up"),
            DoneCommand::Done("help the new hire set up".into())
        );
        for bad in [
            "pause",
            "pause until tomorrow",
            "pause until 2026-13-01",
            "pause 2026-12-24",
        ] {
            assert!(
                matches!(DoneCommand::parse(bad), DoneCommand::Invalid(_)),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_answer_is_ephemeral_json() {
        let json: serde_json::Value =
            serde_json::from_str(&EphemeralAnswer::new("Recorded: shipped").to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"response_type": "ephemeral", "text": "Recorded: shipped"})
        );
    }
}
