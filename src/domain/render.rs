//! What donebot's emails say: the prompt, the digest, the welcome and confirmations.
//!
//! Each function returns an [`OutgoingEmail`] (text + HTML); `bots` turns it into bytes. Every
//! email carries a working one-click unsubscribe (List-Unsubscribe + List-Unsubscribe-Post,
//! RFC 8058) and a pause link, and `Auto-Submitted: auto-generated` so auto-responders stay quiet.

use bots::bus::Digest;
use bots::email::message::OutgoingEmail;
use chrono::{DateTime, NaiveDate, Timelike, Utc};
use storage::{Member, Team};

use crate::config::Settings;
use crate::domain::token::Signer;

/// 128 random bits, in lower-case base32: the part of a Message-ID no one can guess.
fn random_part() -> String {
    let random: [u8; 16] = rand::random();
    data_encoding::BASE32_NOPAD
        .encode(&random)
        .to_ascii_lowercase()
}

/// The link-token action of the VERP return path `bounce+TOKEN@domain` (names the member).
pub const BOUNCE_ACTION: &str = "bounce";

/// The first line of every prompt. The reply trimmer treats it as the start of quoted text when a
/// client sends the prompt back unquoted.
pub const PROMPT_QUESTION: &str = "What did you get done today?";

/// What a rendering needs besides the records.
pub struct Ctx<'a> {
    pub settings: &'a Settings,
    pub signer: &'a Signer,
    pub now: DateTime<Utc>,
}

impl Ctx<'_> {
    fn link(&self, action: &str, member: &Member) -> String {
        format!(
            "{}/{action}/{}",
            self.settings.base_url,
            self.signer.link_token(action, member.id)
        )
    }

    /// A random Message-ID (128 bits): nobody can guess a prompt's and thread a forged reply
    /// or bounce onto it. `id` is not part of it; the caller keeps the id it returns.
    fn message_id(&self, kind: &str, _id: impl std::fmt::Display) -> String {
        format!("{kind}.{}@{}", random_part(), self.settings.domain)
    }

    /// A prompt's Message-ID: random like the others, and naming its prompt, so that storage
    /// finds the prompt without an index entry (see [`storage::prompt_message_id`]).
    fn prompt_message_id(&self, prompt_id: u64) -> String {
        storage::prompt_message_id(prompt_id, &random_part(), &self.settings.domain)
    }

    /// The envelope sender of mail to `member`: `bounce+TOKEN@domain`, so that a bounce proves
    /// it answers mail donebot sent to them.
    pub fn return_path(&self, member: &Member) -> String {
        let token = self.signer.link_token(BOUNCE_ACTION, member.id);
        format!("bounce+{token}@{}", self.settings.domain)
    }

    fn base(
        &self,
        member: &Member,
        subject: String,
        text: String,
        html: String,
        message_id: String,
    ) -> OutgoingEmail {
        let unsubscribe = self.link("unsubscribe", member);
        OutgoingEmail {
            from: self.settings.from.clone(),
            to: format!("{} <{}>", quote_name(&member.name), member.email),
            reply_to: None,
            subject,
            text,
            html: Some(html),
            message_id,
            in_reply_to: None,
            return_path: Some(self.return_path(member)),
            headers: vec![
                ("Auto-Submitted".into(), "auto-generated".into()),
                ("List-Unsubscribe".into(), format!("<{unsubscribe}>")),
                (
                    "List-Unsubscribe-Post".into(),
                    "List-Unsubscribe=One-Click".into(),
                ),
                (
                    "List-Id".into(),
                    format!("donebot <team.{}>", self.settings.domain),
                ),
            ],
            date: self.now,
        }
    }

    fn footer(&self, member: &Member) -> (String, String) {
        let pause = self.link("pause", member);
        let unsubscribe = self.link("unsubscribe", member);
        let text = format!(
            "\n-- \nPause these emails: {pause}\nUnsubscribe from all donebot email: {unsubscribe}\nOr reply with \"pause\", \"pause until friday\", \"resume\" or \"unsubscribe\".\n"
        );
        let html = format!(
            "<hr><p style=\"color:#777;font-size:12px\"><a href=\"{}\">Pause these emails</a> · <a href=\"{}\">Unsubscribe from all donebot email</a> · or reply with “pause”, “pause until friday”, “resume” or “unsubscribe”.</p>",
            esc(&pause),
            esc(&unsubscribe)
        );
        (text, html)
    }
}

/// When the digest that covers `day` goes out, in words: on the team's next workday (digests go
/// out on workdays and cover the days since the previous one: Friday's answers come on Monday), at
/// the time of day of the team's digest schedule in the member's zone. "Tomorrow morning", or "On
/// Monday morning" when that is later.
fn digest_comes(team: &Team, member: &Member, day: NaiveDate) -> String {
    let calendar = scheduler::Calendar {
        working_days: team.working_days.iter().copied().collect(),
        holidays: team.holidays.iter().copied().collect(),
    };
    let Some(next) = day
        .iter_days()
        .skip(1)
        .take(scheduler::LOOKBACK_DAYS as usize)
        .find(|&d| calendar.is_workday(d))
    else {
        return "On the team's next workday".into();
    };
    let part = scheduler::parse_tz(member.timezone.as_deref().unwrap_or(&team.timezone))
        .ok()
        .and_then(|tz| scheduler::Schedule::new(&team.digest_cron, tz).ok())
        .and_then(|s| s.preview(next, 1).into_iter().next())
        .filter(|t| t.date_naive() == next)
        .map_or("morning", |t| match t.hour() {
            0..=11 => "morning",
            12..=17 => "afternoon",
            _ => "evening",
        });
    if Some(next) == day.succ_opt() {
        format!("Tomorrow {part}")
    } else if (next - day).num_days() < 7 {
        format!("On {} {part}", next.format("%A"))
    } else {
        format!("On {} {part}", next.format("%A, %B %-d"))
    }
}

/// The evening question. `reply_to` is the per-prompt address `reply+TOKEN@domain`.
pub fn prompt(
    ctx: &Ctx,
    team: &Team,
    member: &Member,
    prompt_id: u64,
    day: NaiveDate,
    reply_to: &str,
) -> OutgoingEmail {
    let (ft, fh) = ctx.footer(member);
    let date = day.format("%A, %B %-d").to_string();
    let when = digest_comes(team, member, day);
    let text = format!(
        "{PROMPT_QUESTION}\n\nHi {name}, just reply to this email with what you got done on {date}: one line per thing.\nStart a line with \"goal:\" for something you plan, or \"blocker:\" for what is in your way.\n{when} everyone in {team} gets a digest.\n{ft}",
        name = member.name,
        team = team.name,
    );
    let html = format!(
        "<p><b>{PROMPT_QUESTION}</b></p><p>Hi {name}, just reply to this email with what you got done on {date}: one line per thing. Start a line with “goal:” for something you plan, or “blocker:” for what is in your way.</p><p>{when} everyone in {team} gets a digest.</p>{fh}",
        name = esc(&member.name),
        team = esc(&team.name),
    );
    let mut email = ctx.base(
        member,
        format!(
            "{PROMPT_QUESTION} ({}, {})",
            team.name,
            day.format("%a %b %-d")
        ),
        text,
        html,
        ctx.prompt_message_id(prompt_id),
    );
    email.reply_to = Some(format!("{} <{reply_to}>", quote_name(&team.name)));
    email
        .headers
        .push(("X-Donebot-Kind".into(), "prompt".into()));
    email
}

/// A reminder to a member who has not answered the prompt of `day`: a reply in the prompt's
/// thread (`in_reply_to` is its Message-ID) with the same reply address, so answering it works as
/// answering the prompt.
pub fn nudge(
    ctx: &Ctx,
    team: &Team,
    member: &Member,
    prompt_id: u64,
    day: NaiveDate,
    reply_to: &str,
    in_reply_to: Option<&str>,
) -> OutgoingEmail {
    let (ft, fh) = ctx.footer(member);
    let date = day.format("%A, %B %-d").to_string();
    let text = format!(
        "A reminder, {name}: what did you get done on {date}? Just reply to this email, one line per thing.\n{ft}",
        name = member.name,
    );
    let html = format!(
        "<p>A reminder, {name}: what did you get done on {date}? Just reply to this email, one line per thing.</p>{fh}",
        name = esc(&member.name),
    );
    let mut email = ctx.base(
        member,
        format!(
            "Re: {PROMPT_QUESTION} ({}, {})",
            team.name,
            day.format("%a %b %-d")
        ),
        text,
        html,
        ctx.message_id("nudge", prompt_id),
    );
    email.reply_to = Some(format!("{} <{reply_to}>", quote_name(&team.name)));
    email.in_reply_to = in_reply_to.map(str::to_owned);
    email
        .headers
        .push(("X-Donebot-Kind".into(), "nudge".into()));
    email
}

/// The morning digest for `to_member`, rendered from the team's [`Digest`] (the same value the
/// chat channels render; Monday's covers Friday to Sunday).
pub fn digest(ctx: &Ctx, team: &Team, to_member: &Member, digest: &Digest) -> OutgoingEmail {
    let mut text = format!("{}\n", digest.title);
    let mut html = format!("<h2>{}</h2>", esc(&digest.title));
    for section in &digest.sections {
        text.push_str(&format!("\n{}\n", section.member));
        html.push_str(&format!("<h3>{}</h3><ul>", esc(&section.member)));
        for line in &section.lines {
            text.push_str(&format!("  - {}\n", line.label()));
            html.push_str(&format!("<li>{}</li>", esc(&line.label())));
        }
        html.push_str("</ul>");
    }
    if digest.sections.is_empty() {
        text.push_str("\nNobody recorded anything.\n");
        html.push_str("<p>Nobody recorded anything.</p>");
    }
    if !digest.quiet.is_empty() {
        let quiet = digest.quiet.join(", ");
        text.push_str(&format!("\nNo answer from: {quiet}\n"));
        html.push_str(&format!(
            "<p style=\"color:#777\">No answer from: {}</p>",
            esc(&quiet)
        ));
    }
    let (ft, fh) = ctx.footer(to_member);
    text.push_str(&ft);
    html.push_str(&fh);
    let mut email = ctx.base(
        to_member,
        // Named after the workday it reports on: Monday's is the digest for Friday.
        format!(
            "{} digest for {}",
            team.name,
            digest.from.format("%a %b %-d")
        ),
        text,
        html,
        ctx.message_id(
            "digest",
            format!("{}.{}.{}", team.id, digest.to, to_member.id),
        ),
    );
    email.headers.push(("Precedence".into(), "bulk".into()));
    email
        .headers
        .push(("X-Donebot-Kind".into(), "digest".into()));
    email
}

/// Sent when a member is added: what donebot is and how to use it by email alone.
/// `link_hints`: how to link an account on each configured chat channel (with a one-time code).
pub fn welcome(
    ctx: &Ctx,
    team: &Team,
    member: &Member,
    prompt_time: &str,
    link_hints: &[String],
) -> OutgoingEmail {
    let (mut ft, mut fh) = ctx.footer(member);
    for hint in link_hints.iter().rev() {
        ft.insert_str(0, &format!("\n{hint}\n"));
        fh.insert_str(0, &format!("<p>{}</p>", esc(hint)));
    }
    let text = format!(
        "Hi {name},\n\nyou have been added to {team} on donebot.\n\nEvery workday at {prompt_time} donebot will email you one question: \"{PROMPT_QUESTION}\"\nJust reply with a line for each thing you got done. Each line becomes a \"done\".\nEvery morning you get a digest of what the whole team got done the day before.\n\nYou never need to visit a website: replying is all there is. You can also reply\n\"pause\" (or \"pause until 2026-12-31\") to stop the emails for a while, \"resume\" to\nstart them again, and \"unsubscribe\" to stop them for good.\n{ft}",
        name = member.name,
        team = team.name,
    );
    let html = format!(
        "<p>Hi {name},</p><p>you have been added to <b>{team}</b> on donebot.</p><p>Every workday at {time} donebot will email you one question: <i>“{PROMPT_QUESTION}”</i> Just reply with a line for each thing you got done. Each line becomes a “done”. Every morning you get a digest of what the whole team got done the day before.</p><p>You never need to visit a website: replying is all there is. You can also reply “pause” (or “pause until 2026-12-31”) to stop the emails for a while, “resume” to start them again, and “unsubscribe” to stop them for good.</p>{fh}",
        name = esc(&member.name),
        team = esc(&team.name),
        time = esc(prompt_time),
    );
    let mut email = ctx.base(
        member,
        format!("Welcome to {} on donebot", team.name),
        text,
        html,
        ctx.message_id("welcome", member.id),
    );
    email
        .headers
        .push(("X-Donebot-Kind".into(), "welcome".into()));
    email
}

/// A short confirmation of an email command ("You are paused until …").
/// The subject is `what`'s first sentence; the body all of it.
pub fn confirmation(ctx: &Ctx, member: &Member, inbound_id: u64, what: &str) -> OutgoingEmail {
    let (ft, fh) = ctx.footer(member);
    let subject = what.split_once(". ").map_or(what, |(first, _)| first);
    let mut email = ctx.base(
        member,
        format!("donebot: {}", subject.trim_end_matches('.')),
        format!("{what}\n{ft}"),
        format!("<p>{}</p>{fh}", esc(what)),
        ctx.message_id("confirm", inbound_id),
    );
    email
        .headers
        .push(("X-Donebot-Kind".into(), "confirmation".into()));
    email
}

/// Tells a member that mail claiming to be from them was not authenticated and was refused.
pub fn refused(ctx: &Ctx, member: &Member, inbound_id: u64) -> OutgoingEmail {
    let (ft, fh) = ctx.footer(member);
    let what = format!(
        "donebot received mail that claims to be from {}, but it could not be verified (no DKIM signature from your mail domain), so nothing was recorded or changed. To add what you got done, reply to your latest prompt email: its reply address is personal to you. If the mail was yours, ask your mail administrator to sign outgoing mail with DKIM.",
        member.email
    );
    let mut email = ctx.base(
        member,
        "donebot: mail in your name was refused".into(),
        format!("{what}\n{ft}"),
        format!("<p>{}</p>{fh}", esc(&what)),
        ctx.message_id("refused", inbound_id),
    );
    email
        .headers
        .push(("X-Donebot-Kind".into(), "refused".into()));
    email
}

/// A sign-in link for the web pages, to `email` (a member's address or a server admin's). It is a
/// transactional answer to a request made on the sign-in page, so it has no unsubscribe link:
/// it comes only when somebody asks for it.
pub fn sign_in(ctx: &Ctx, email: &str, link: &str, valid_minutes: i64) -> OutgoingEmail {
    let text = format!(
        "Hi,\n\nto sign in to donebot, open this link within {valid_minutes} minutes:\n\n{link}\n\nIt works once. If you did not ask to sign in, ignore this email: nothing happens without the link.\n"
    );
    let html = format!(
        "<p>Hi,</p><p>to sign in to donebot, open this link within {valid_minutes} minutes:</p><p><a href=\"{l}\">Sign in to donebot</a></p><p style=\"color:#777;font-size:12px\">{l}<br>It works once. If you did not ask to sign in, ignore this email: nothing happens without the link.</p>",
        l = esc(link)
    );
    OutgoingEmail {
        from: ctx.settings.from.clone(),
        to: email.to_string(),
        reply_to: None,
        subject: "Your donebot sign-in link".into(),
        text,
        html: Some(html),
        message_id: ctx.message_id("signin", email),
        in_reply_to: None,
        return_path: None,
        headers: vec![
            ("Auto-Submitted".into(), "auto-generated".into()),
            ("X-Donebot-Kind".into(), "sign-in".into()),
        ],
        date: ctx.now,
    }
}

/// HTML-escapes text.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A display name safe for a header: quoted, without quotes or line breaks inside.
fn quote_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !matches!(c, '"' | '\\' | '\r' | '\n' | '<' | '>'))
        .collect();
    format!("\"{}\"", clean.trim())
}
