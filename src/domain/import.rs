//! Importing a team's history from a CSV export (iDoneThis, Geekbot, or donebot's own export):
//! reading the file ([`plan`]), then writing it ([`Plan::apply`]). Used by `POST
//! /api/v1/teams/{team}/import` and `donebot import`.
//!
//! ## Columns
//! The first line names the columns; names are matched case-insensitively, with spaces and `-`
//! read as `_`, and other columns are ignored:
//! - the day: `date`, `done_date`, `occurred_on`, `day` or `timestamp`, as `YYYY-MM-DD`, an ISO
//!   date-time (its date is taken), or `MM/DD/YYYY`;
//! - who: `email` (or `email_address`, `user_email`, `owner_email`, `member_email`); else a
//!   name (`member`, `name`, `user`, `owner`, `full_name`, `username`) matched against the
//!   team's members' names (or read as an address when it is one);
//! - the text: `text`, `done`, `body`, `raw_text`, `entry`, `content` or `description`, or the
//!   column named by `text_column` (a Geekbot question). A cell of several lines is several
//!   dones, read like a reply;
//! - optionally the kind: `kind`, `status` or `type` (`done`, `goal`, `blocker`), or `is_goal`.
//!
//! ## Guarantees
//! - Nothing is written unless every row is good: the answer lists each bad row by its line
//!   number (at most [`MAX_REPORTED`] of them) and the file is imported again once fixed.
//! - A row is recorded once, however often it is imported: each is keyed by the member, the day
//!   and the text (source `import`), so re-importing a file, or one that overlaps it, adds only
//!   what is new; the same row twice in one file is one done.
//! - Writes go to storage in batches of [`BATCH`] rows, each one transaction. A server stopped
//!   midway leaves the batches written so far, and importing the same file again completes it.
//!
//! A cell that donebot's export protected with `'` (before `=`, `+`, `-`, `@`) is read back
//! without it.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use storage::{Channel, DoneKind, Member, MemberState, NewDone, NewReply, RecordOutcome, Source};
use storage::{Store, Team};

use crate::error::{AppError, AppResult};

/// The largest file accepted.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;
/// The most rows one file holds.
pub const MAX_ROWS: usize = 100_000;
/// The most bad rows listed in one answer (the count says how many there were).
pub const MAX_REPORTED: usize = 100;
/// Rows written per storage transaction.
pub const BATCH: usize = 500;
/// The earliest day a done may belong to (here and through `POST /teams/{team}/dones`).
pub const EARLIEST: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
/// Where imported dones come from.
pub const SOURCE: Channel = Channel::from_static("import");

const DATE: &[&str] = &["date", "done_date", "occurred_on", "day", "timestamp"];
const EMAIL: &[&str] = &[
    "email",
    "email_address",
    "user_email",
    "owner_email",
    "member_email",
];
const NAME: &[&str] = &[
    "member",
    "name",
    "user",
    "owner",
    "full_name",
    "username",
    "member_name",
];
const TEXT: &[&str] = &[
    "text",
    "done",
    "body",
    "raw_text",
    "entry",
    "content",
    "description",
];
const KIND: &[&str] = &["kind", "status", "type"];

/// How to read the file.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Add the members the file names that the team does not have (by their address).
    pub create_members: bool,
    /// The column holding the text, when it is none of the usual names.
    pub text_column: Option<String>,
}

/// A row that cannot be imported, by the line it starts on (1 = the header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowError {
    pub line: usize,
    pub message: String,
}

/// Why nothing was imported.
#[derive(Debug)]
pub enum ImportError {
    /// The file as a whole: not CSV, no header, a needed column missing, too large.
    File(String),
    /// Some rows are wrong: the first [`MAX_REPORTED`] of them, and how many in all.
    Rows { errors: Vec<RowError>, total: usize },
    /// Reading the team's members failed.
    App(AppError),
}

impl From<AppError> for ImportError {
    fn from(e: AppError) -> Self {
        ImportError::App(e)
    }
}

impl From<storage::StorageError> for ImportError {
    fn from(e: storage::StorageError) -> Self {
        ImportError::App(e.into())
    }
}

/// Who a row is: a member of the team, or one to add.
#[derive(Debug, Clone)]
enum Who {
    Member(u64),
    New { email: String, name: String },
}

#[derive(Debug, Clone)]
struct Planned {
    who: Who,
    day: NaiveDate,
    lines: Vec<NewDone>,
    key: String,
}

/// A file read and checked against the team: what [`Plan::apply`] will write.
#[derive(Debug)]
pub struct Plan {
    team: u64,
    rows: Vec<Planned>,
    /// Rows whose text holds no done (empty, or only a sign-off).
    pub empty_rows: usize,
}

/// Per member, the ids of the dones an import recorded for them (for the event stream).
pub type Recorded = Vec<(u64, Vec<u64>)>;

/// What an import did.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Summary {
    /// Rows read (the header excluded).
    pub rows: usize,
    /// Dones recorded now.
    pub recorded: usize,
    /// Rows recorded by an earlier import (or earlier in this file), not again.
    pub duplicates: usize,
    /// Rows without any done in their text.
    pub empty_rows: usize,
    /// The members added, by address.
    pub members_created: Vec<String>,
}

impl Plan {
    /// The addresses of the members the import adds, in order of first appearance.
    pub fn new_members(&self) -> Vec<(String, String)> {
        let mut seen = Vec::<(String, String)>::new();
        for r in &self.rows {
            if let Who::New { email, name } = &r.who
                && !seen.iter().any(|(e, _)| e == email)
            {
                seen.push((email.clone(), name.clone()));
            }
        }
        seen
    }

    /// Writes the plan's dones in batches, once the members of [`Plan::new_members`] have been
    /// added (`added`: their records, by address). Returns what was recorded and, per member,
    /// the new dones' ids.
    pub fn apply(
        self,
        store: &Store,
        now: DateTime<Utc>,
        added: &[Member],
    ) -> AppResult<(Summary, Recorded)> {
        let mut summary = Summary {
            rows: self.rows.len() + self.empty_rows,
            empty_rows: self.empty_rows,
            members_created: added.iter().map(|m| m.email.clone()).collect(),
            ..Summary::default()
        };
        let ids: HashMap<String, u64> = added
            .iter()
            .map(|m| (m.email.to_lowercase(), m.id))
            .collect();
        for (email, _) in self.new_members() {
            if !ids.contains_key(&email) {
                return Err(AppError::Conflict(format!(
                    "{email} was to be added before the import"
                )));
            }
        }
        let mut recorded: HashMap<u64, Vec<u64>> = HashMap::new();
        for batch in self.rows.chunks(BATCH) {
            let replies: Vec<NewReply> = batch
                .iter()
                .map(|r| NewReply {
                    team: self.team,
                    member: match &r.who {
                        Who::Member(id) => *id,
                        // Checked above: every new address has its id.
                        Who::New { email, .. } => ids.get(email).copied().unwrap_or_default(),
                    },
                    day: r.day,
                    lines: r.lines.clone(),
                    source: Source {
                        channel: SOURCE,
                        message_id: Some(r.key.clone()),
                        prompt_id: None,
                        inbound_id: None,
                    },
                    replace: false,
                    received: None,
                })
                .collect();
            let outcomes = store.record_replies(&replies, now)?;
            for (reply, outcome) in replies.iter().zip(outcomes) {
                match outcome {
                    RecordOutcome::Recorded(new) => {
                        summary.recorded += new.len();
                        recorded.entry(reply.member).or_default().extend(new);
                    }
                    RecordOutcome::Duplicate(_) => summary.duplicates += 1,
                }
            }
        }
        store.flush()?;
        Ok((summary, recorded.into_iter().collect()))
    }
}

/// Reads `csv` for `team` (whose members are `members`), checking every row; `today` is the
/// last day a member may have done something (their today).
pub fn plan(
    team: &Team,
    members: &[Member],
    csv: &[u8],
    opts: &Options,
    today: impl Fn(Option<&Member>) -> NaiveDate,
) -> Result<Plan, ImportError> {
    if csv.len() > MAX_BYTES {
        return Err(ImportError::File(format!(
            "the file is larger than {MAX_BYTES} bytes; split it"
        )));
    }
    let text = std::str::from_utf8(csv)
        .map_err(|e| ImportError::File(format!("the file is not UTF-8 text ({e})")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let records = records(text).map_err(|e| ImportError::Rows {
        errors: vec![e],
        total: 1,
    })?;
    let mut records = records.into_iter();
    let Some((_, header)) = records.next() else {
        return Err(ImportError::File(
            "the file is empty: expected a header line".into(),
        ));
    };
    let columns = Columns::find(&header, opts)?;
    let live: Vec<&Member> = members
        .iter()
        .filter(|m| !matches!(m.state, MemberState::Removed { .. }))
        .collect();
    let mut plan = Plan {
        team: team.id,
        rows: Vec::new(),
        empty_rows: 0,
    };
    let mut errors = Vec::new();
    let mut total_errors = 0;
    let mut count = 0;
    for (line, cells) in records {
        count += 1;
        if count > MAX_ROWS {
            return Err(ImportError::File(format!(
                "more than {MAX_ROWS} rows; split the file"
            )));
        }
        match row(team.id, &columns, &cells, &live, opts, &today) {
            Ok(Some(p)) => plan.rows.push(p),
            Ok(None) => plan.empty_rows += 1,
            Err(message) => {
                total_errors += 1;
                if errors.len() < MAX_REPORTED {
                    errors.push(RowError { line, message });
                }
            }
        }
    }
    if total_errors > 0 {
        return Err(ImportError::Rows {
            errors,
            total: total_errors,
        });
    }
    Ok(plan)
}

/// Where each needed value is in a row.
struct Columns {
    date: usize,
    email: Option<usize>,
    name: Option<usize>,
    text: usize,
    kind: Option<usize>,
    is_goal: Option<usize>,
}

fn normal(name: &str) -> String {
    name.trim()
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect()
}

impl Columns {
    fn find(header: &[String], opts: &Options) -> Result<Columns, ImportError> {
        let names: Vec<String> = header.iter().map(|h| normal(h)).collect();
        let any = |aliases: &[&str]| {
            aliases
                .iter()
                .find_map(|a| names.iter().position(|n| n == a))
        };
        let missing = |what: &str, aliases: &[&str]| {
            ImportError::File(format!(
                "no {what} column: expected one named {} (the header has: {})",
                aliases.join(", "),
                header.join(", ")
            ))
        };
        let text = match &opts.text_column {
            Some(col) => names
                .iter()
                .position(|n| *n == normal(col))
                .ok_or_else(|| {
                    ImportError::File(format!(
                        "no column named {col:?} (the header has: {})",
                        header.join(", ")
                    ))
                })?,
            None => any(TEXT).ok_or_else(|| missing("text", TEXT))?,
        };
        let email = any(EMAIL);
        let name = any(NAME);
        if email.is_none() && name.is_none() {
            return Err(missing("member", &[EMAIL, NAME].concat()));
        }
        Ok(Columns {
            date: any(DATE).ok_or_else(|| missing("date", DATE))?,
            email,
            name,
            text,
            kind: any(KIND),
            is_goal: any(&["is_goal"]),
        })
    }
}

/// One row, checked: `None` when its text holds no done.
fn row(
    team: u64,
    c: &Columns,
    cells: &[String],
    members: &[&Member],
    opts: &Options,
    today: &impl Fn(Option<&Member>) -> NaiveDate,
) -> Result<Option<Planned>, String> {
    let cell = |i: usize| cells.get(i).map(|s| unprotect(s.trim())).unwrap_or("");
    let email = c.email.map(cell).filter(|e| !e.is_empty());
    let name = c.name.map(cell).filter(|n| !n.is_empty());
    let who = match (email, name) {
        (Some(e), _) => by_email(e, name, members, opts)?,
        (None, Some(n)) if n.contains('@') => by_email(n, None, members, opts)?,
        (None, Some(n)) => {
            let found: Vec<&&Member> = members
                .iter()
                .filter(|m| m.name.trim().eq_ignore_ascii_case(n))
                .collect();
            match found.as_slice() {
                [m] => Who::Member(m.id),
                [] => {
                    return Err(format!(
                        "no member of the team is named {n:?} (give an email column)"
                    ));
                }
                _ => {
                    return Err(format!(
                        "several members are named {n:?} (give an email column)"
                    ));
                }
            }
        }
        (None, None) => return Err("no member: the email (or name) cell is empty".into()),
    };
    let member = match &who {
        Who::Member(id) => members.iter().find(|m| m.id == *id).copied(),
        Who::New { .. } => None,
    };
    let day = date(cell(c.date))?;
    let last = today(member);
    if day > last {
        return Err(format!(
            "{day} has not started yet for this member (their today is {last})"
        ));
    }
    if day < EARLIEST {
        return Err(format!("{day} is before {EARLIEST}"));
    }
    let text = cell(c.text);
    let mut lines = crate::domain::lines::parse_lines(text);
    if lines.is_empty() {
        return Ok(None);
    }
    if let Some(kind) = row_kind(c, cells)? {
        for l in lines.iter_mut().filter(|l| l.kind == DoneKind::Done) {
            l.kind = kind;
        }
    }
    // The row's identity: the same member (by address, whether added by this import or an
    // earlier one), day and text is the same row.
    let member_key = match (&who, member) {
        (Who::New { email, .. }, _) => email.clone(),
        (Who::Member(_), Some(m)) => m.email.to_lowercase(),
        (Who::Member(id), None) => id.to_string(),
    };
    let digest = Sha256::digest(format!("{member_key}\n{day}\n{text}").as_bytes());
    let key = format!("{}:{}", team, data_encoding::HEXLOWER.encode(&digest[..16]));
    Ok(Some(Planned {
        who,
        day,
        lines,
        key,
    }))
}

fn by_email(
    email: &str,
    name: Option<&str>,
    members: &[&Member],
    opts: &Options,
) -> Result<Who, String> {
    let address = crate::config::bare_address(email)
        .filter(|a| a.matches('@').count() == 1 && a.split('@').all(|p| !p.is_empty()))
        .ok_or_else(|| format!("{email:?} is not an email address"))?;
    if let Some(m) = members
        .iter()
        .find(|m| m.email.eq_ignore_ascii_case(&address))
    {
        return Ok(Who::Member(m.id));
    }
    if !opts.create_members {
        return Err(format!(
            "{address} is not a member of the team (add them, or import with create_members)"
        ));
    }
    let name = name
        .filter(|n| !n.contains('@'))
        .map(str::to_owned)
        .unwrap_or_else(|| address.split('@').next().unwrap_or(&address).to_owned());
    Ok(Who::New {
        email: address.to_lowercase(),
        name,
    })
}

fn row_kind(c: &Columns, cells: &[String]) -> Result<Option<DoneKind>, String> {
    let get = |i: Option<usize>| {
        i.and_then(|i| cells.get(i))
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
    };
    if let Some(kind) = get(c.kind) {
        return match kind.as_str() {
            "done" | "completed" => Ok(Some(DoneKind::Done)),
            "goal" | "todo" => Ok(Some(DoneKind::Goal)),
            "blocker" | "blocked" => Ok(Some(DoneKind::Blocker)),
            other => Err(format!("kind {other:?} (expected done, goal or blocker)")),
        };
    }
    Ok(match get(c.is_goal).as_deref() {
        Some("true" | "1" | "yes") => Some(DoneKind::Goal),
        _ => None,
    })
}

/// A day as `YYYY-MM-DD`, an ISO date-time, or `MM/DD/YYYY`.
fn date(s: &str) -> Result<NaiveDate, String> {
    let iso = s
        .get(..10)
        .filter(|_| s.len() == 10 || matches!(s.as_bytes().get(10), Some(b'T' | b't' | b' ')));
    if let Some(d) = iso.and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) {
        return Ok(d);
    }
    NaiveDate::parse_from_str(s, "%m/%d/%Y")
        .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD or MM/DD/YYYY)"))
}

/// A cell as donebot's export protects it (`'=SUM(A1)`), without the protection.
fn unprotect(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
        _ => s,
    }
}

/// The records of an RFC 4180 text, each with the line it starts on; blank lines are skipped.
fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>, RowError> {
    let mut out = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut start = 1;
    let mut quoted = false;
    // Whether the field began with a quote (then its text is what is between the quotes).
    let mut was_quoted = false;
    let mut chars = text.chars().peekable();
    let mut end_record = |record: &mut Vec<String>, field: &mut String, was_quoted: bool, start| {
        let blank = record.is_empty() && field.is_empty() && !was_quoted;
        record.push(std::mem::take(field));
        let r = std::mem::take(record);
        if !blank {
            out.push((start, r));
        }
    };
    while let Some(ch) = chars.next() {
        if quoted {
            match ch {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                c => field.push(c),
            }
            continue;
        }
        match ch {
            '"' if field.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                end_record(&mut record, &mut field, was_quoted, start);
                was_quoted = false;
                line += 1;
                start = line;
            }
            c => field.push(c),
        }
    }
    if quoted {
        return Err(RowError {
            line: start,
            message: "a quoted cell is not closed (a \" is missing)".into(),
        });
    }
    if !field.is_empty() || !record.is_empty() || was_quoted {
        end_record(&mut record, &mut field, was_quoted, start);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_keep_quotes_commas_and_newlines_with_their_line() {
        let text = "date,email,text\r\n2026-03-09,a@x.org,\"shipped, \"\"v2\"\"\nand docs\"\n\n2026-03-10,b@x.org,plain\n";
        let r = records(text).unwrap();
        assert_eq!(
            r,
            vec![
                (1, vec!["date".into(), "email".into(), "text".into()]),
                (
                    2,
                    vec![
                        "2026-03-09".into(),
                        "a@x.org".into(),
                        "shipped, \"v2\"\nand docs".into()
                    ]
                ),
                (
                    5,
                    vec!["2026-03-10".into(), "b@x.org".into(), "plain".into()]
                ),
            ]
        );
        let err = records("a,b\n1,\"open\n").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn dates_and_protected_cells_are_read_back() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
        for s in [
            "2026-03-09",
            "2026-03-09T18:00:00Z",
            "2026-03-09 18:00",
            "03/09/2026",
        ] {
            assert_eq!(date(s), Ok(d), "{s}");
        }
        for bad in ["", "2026-13-01", "09.03.2026", "2026-03-091"] {
            assert!(date(bad).is_err(), "{bad}");
        }
        assert_eq!(unprotect("'=SUM(A1)"), "=SUM(A1)");
        assert_eq!(unprotect("'quoted'"), "'quoted'");
    }
}
