//! A team's dones for export, in one row shape whatever the format: JSON (an array of objects) and
//! CSV (RFC 4180, one header line) carry the same columns, so a spreadsheet and a script see the
//! same data. Used by `GET /api/v1/teams/{team}/export` and `donebot export`.
//!
//! Invariant: a CSV cell never starts with `=`, `+`, `-` or `@` as written by a member (it is
//! prefixed with `'`), so opening an export in a spreadsheet runs nothing a member typed.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;
use storage::{Member, Store};

use crate::error::{AppError, AppResult};

/// The columns, in order: the CSV header and the JSON keys.
pub const COLUMNS: [&str; 11] = [
    "id",
    "date",
    "member_id",
    "member",
    "email",
    "kind",
    "text",
    "tags",
    "mentions",
    "source",
    "created_at",
];

/// One done, with its member's name and address (empty for a former member whose record is gone).
#[derive(Debug, Serialize)]
pub struct Row {
    pub id: u64,
    pub date: NaiveDate,
    pub member_id: u64,
    pub member: String,
    pub email: String,
    pub kind: &'static str,
    pub text: String,
    pub tags: Vec<String>,
    pub mentions: Vec<String>,
    /// The channel it came from: `email`, `telegram`, `web`, ...
    pub source: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

impl Format {
    pub fn parse(s: &str) -> AppResult<Format> {
        match s {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            other => Err(AppError::Invalid(format!(
                "unknown format {other:?} (expected json or csv)"
            ))),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// The team's dones from `from` to `to` (inclusive; all when unset), oldest first.
pub fn rows(
    store: &Store,
    team: u64,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> AppResult<Vec<Row>> {
    let members: HashMap<u64, Member> = store
        .members_of(team)?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let from = from.unwrap_or(NaiveDate::MIN).max(first_day());
    let to = to.unwrap_or(NaiveDate::MAX);
    Ok(store
        .team_dones(team, from, to)?
        .into_iter()
        .map(|d| {
            let (member, email) = members
                .get(&d.member_id)
                .map(|m| (m.name.clone(), m.email.clone()))
                .unwrap_or_default();
            Row {
                id: d.id,
                date: d.day,
                member_id: d.member_id,
                member,
                email,
                kind: d.kind.as_str(),
                text: d.text,
                tags: d.tags,
                mentions: d.mentions,
                source: d.source.channel.as_str().to_owned(),
                created_at: d.created_at,
            }
        })
        .collect())
}

/// Year 1: the storage keys of days start there.
fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// The rows as the body of a file in `format`.
pub fn render(rows: &[Row], format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string(rows).unwrap_or_else(|_| "[]".into()),
        Format::Csv => {
            let mut out = COLUMNS.join(",");
            out.push_str("\r\n");
            for r in rows {
                let fields = [
                    r.id.to_string(),
                    r.date.to_string(),
                    r.member_id.to_string(),
                    r.member.clone(),
                    r.email.clone(),
                    r.kind.to_owned(),
                    r.text.clone(),
                    r.tags.join(" "),
                    r.mentions.join(" "),
                    r.source.clone(),
                    r.created_at.to_rfc3339(),
                ];
                let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                out.push_str(&line.join(","));
                out.push_str("\r\n");
            }
            out
        }
    }
}

/// RFC 4180 quoting; a leading `=`, `+`, `-`, `@` is prefixed with `'` so spreadsheets do not run it.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row {
            id: 7,
            date: "2026-03-09".parse().unwrap(),
            member_id: 2,
            member: "Ada".into(),
            email: "ada@example.com".into(),
            kind: "done",
            text: "=SUM(A1), \"quoted\"".into(),
            tags: vec!["ci".into()],
            mentions: vec!["ops".into()],
            source: "email".into(),
            created_at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
        }
    }

    #[test]
    fn json_and_csv_carry_the_same_columns() {
        let json: serde_json::Value =
            serde_json::from_str(&render(&[row()], Format::Json)).unwrap();
        let keys: Vec<&str> = json[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut columns = COLUMNS.to_vec();
        columns.sort();
        let mut keys = keys;
        keys.sort();
        assert_eq!(keys, columns);
        let csv = render(&[row()], Format::Csv);
        let mut lines = csv.split("\r\n");
        assert_eq!(lines.next(), Some(COLUMNS.join(",").as_str()));
        assert_eq!(
            lines.next(),
            Some(
                "7,2026-03-09,2,Ada,ada@example.com,done,\"'=SUM(A1), \"\"quoted\"\"\",ci,ops,email,1970-01-01T00:00:00+00:00"
            )
        );
    }
}
