//! The command line: `donebot serve` (the default) and the admin commands.
//!
//! Admin commands open the data directory directly when no server runs. While a server holds it,
//! the commands that the API offers go through the running server instead (its address and a
//! control token are in `DATA/control.json`); the others say clearly that the server must stop.
//! A server's control file is trusted only for the directory it names: `--data OTHER` while a
//! server runs elsewhere works on OTHER, never on the running server's data.
//!
//! Exit codes: 0 done, 2 usage, bad input or configuration, 1 anything else.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use storage::{StorageError, Store};

use crate::clock::SystemClock;
use crate::config::{Config, Settings};
use crate::error::AppError;
use crate::ops;
use crate::server::{CONTROL_FILE, ControlInfo, Server};
use crate::web::queues::{InboundView, OutboxStatus, OutboxView};

#[derive(Debug, Parser)]
#[command(
    name = "donebot",
    version,
    about = "Asks your team what they got done; sends the digest.",
    after_help = "Exit codes: 0 done, 1 failed, 2 usage or input error.\n\
                  Logs go to standard error; RUST_LOG (or DONEBOT_LOG) sets their level, e.g. RUST_LOG=debug."
)]
pub struct Cli {
    /// Configuration file (default: ./config.toml if present, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (default: data_dir of the configuration, ./data).
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: web, API, inbound SMTP, scheduler, channels (the default).
    Serve,
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Teams.
    #[command(subcommand)]
    Team(TeamCmd),
    /// Members.
    #[command(subcommand)]
    Member(MemberCmd),
    /// Search a team's dones, newest first: one line per done (id, date, member's name, kind, text).
    ///
    /// Options may come before or after the words. A word that starts with "-" (an exclusion)
    /// goes after "--", which ends the options: `donebot search Core kafka --limit 5 -- -zookeeper`.
    Search {
        /// The team's name or id.
        team: String,
        /// Words, all of which must match; also "a phrase", a OR b, tag:x, kind:goal|done|blocker,
        /// and -word (after "--").
        query: Vec<String>,
        /// Only this member's dones (the member's id or email address).
        #[arg(long, value_name = "MEMBER")]
        member: Option<String>,
        /// Only dones on or after this day.
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: Option<NaiveDate>,
        /// Only dones on or before this day.
        #[arg(long, value_name = "YYYY-MM-DD")]
        to: Option<NaiveDate>,
        /// Only dones with this tag (without the "#").
        #[arg(long, value_name = "TAG")]
        tag: Option<String>,
        /// How many dones to print (1 to 100).
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: usize,
    },
    /// Rebuild the search index from the database, with a progress bar (the server must be
    /// stopped; it rebuilds a missing or stale index by itself at start-up).
    Reindex,
    /// Print what a person wrote in an email (quotes and signatures removed).
    Trim {
        /// A raw email or plain text; `-` or nothing for standard input.
        file: Option<PathBuf>,
        /// Print the dones the server would record, one per line, instead of the text.
        #[arg(long)]
        dones: bool,
    },
    /// Write a consistent snapshot of the data directory into DIR (works while serving).
    Backup {
        /// A new or empty directory; while a server runs it must be inside its [web] backup_dir.
        dir: PathBuf,
    },
    /// Restore a backup into the (empty) data directory. The server must be stopped.
    Restore {
        /// A directory written by `donebot backup`.
        dir: PathBuf,
    },
    /// Schedules.
    #[command(subcommand)]
    Schedule(ScheduleCmd),
    /// The outgoing mail queue.
    #[command(subcommand)]
    Outbox(OutboxCmd),
    /// Received mail.
    #[command(subcommand)]
    Inbound(InboundCmd),
    /// Measure the real code paths against real peers (see `src/bench/`).
    #[command(subcommand)]
    Bench(BenchCmd),
    /// Import a team's history from a CSV export (iDoneThis, Geekbot, or `donebot export`):
    /// columns date, email (or a member's name) and text, in any order (docs/api.md).
    /// Every row is checked first: a bad row is reported by its line and nothing is written.
    /// Importing the same rows again records nothing new.
    Import {
        /// The team's name or id.
        team: String,
        /// The CSV file; `-` for standard input.
        file: PathBuf,
        /// Add the members the file names by an address the team does not have (each gets
        /// the welcome email); without it such rows are errors.
        #[arg(long)]
        create_members: bool,
        /// The column holding the text, when it is none of the usual names.
        #[arg(long, value_name = "NAME")]
        text_column: Option<String>,
    },
    /// Print a team's dones (all, or from/to a day) as CSV or JSON, with the same columns:
    /// id, date, member_id, member, email, kind, text, tags, mentions, source, created_at.
    Export {
        /// The team's name or id.
        team: String,
        /// The file format: csv or json.
        #[arg(long, value_enum, default_value = "csv", value_name = "FORMAT")]
        format: ExportFormat,
        /// Only dones on or after this day.
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: Option<NaiveDate>,
        /// Only dones on or before this day.
        #[arg(long, value_name = "YYYY-MM-DD")]
        to: Option<NaiveDate>,
    },
    /// Print the shell completion script for SHELL, e.g.
    /// `donebot completions bash > /etc/bash_completion.d/donebot`.
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Index N generated dones (many teams, two years, a Zipf vocabulary) and measure query
    /// latency within one team (one word, two words, prefix, phrase; top 20 by rank), against
    /// SQLite FTS5 (python3's sqlite3) on the same data; uses `--data DIR` for the generated
    /// files (kept), else a temporary directory. See docs/bench-search.md.
    Search {
        /// How many dones to generate and index.
        #[arg(long, default_value_t = 10_000_000, value_name = "N")]
        dones: u64,
        /// Teams the dones are spread over.
        #[arg(long, default_value_t = 2_000, value_name = "N")]
        teams: u64,
        /// Distinct words (drawn with a Zipf distribution).
        #[arg(long, default_value_t = 30_000, value_name = "N")]
        vocabulary: usize,
        /// Queries of each kind.
        #[arg(long, default_value_t = 2_000, value_name = "N")]
        queries: usize,
        /// Indexing threads (and readers of the generated file).
        #[arg(long, default_value_t = 2, value_name = "N")]
        threads: usize,
        /// The index writer's memory, in MiB (at least 15 per thread).
        #[arg(long, default_value_t = 512, value_name = "MIB")]
        arena_mib: usize,
        /// Do not run the SQLite FTS5 peer.
        #[arg(long)]
        no_peer: bool,
    },
    /// Enqueue N prompts and deliver them through the outbox to an SMTP server (e.g. smtp-sink);
    /// uses `--data` if given (it must have an empty outbox), else a temporary directory.
    Outbox {
        /// The SMTP server, `127.0.0.1:PORT` (plain SMTP).
        #[arg(long, value_name = "HOST:PORT")]
        smtp: String,
        /// How many prompts to deliver.
        #[arg(long, default_value_t = 10_000, value_name = "N")]
        messages: u64,
        /// SMTP connections at once (the outbox's `[outbox] concurrency`).
        #[arg(long, default_value_t = 8, value_name = "N")]
        concurrency: usize,
        /// Enqueue a team at a time while the outbox sends, as the server does at a prompt
        /// time (the end-to-end figure); without it, everything is enqueued first and the send
        /// phase is timed alone, with a full queue.
        #[arg(long)]
        overlap: bool,
    },
    /// Send N replies into an in-process server's SMTP listener over C sessions and wait until
    /// their dones are recorded; uses `--data` if given (it must be fresh), else a temporary
    /// directory.
    Inbound {
        /// How many replies to send.
        #[arg(long, default_value_t = 10_000, value_name = "N")]
        messages: u64,
        /// SMTP sessions at once.
        #[arg(long, default_value_t = 16, value_name = "N")]
        concurrency: usize,
        /// Teams the members are spread over.
        #[arg(long, default_value_t = 50, value_name = "N")]
        teams: usize,
        /// Members, each with today's prompt; reply i comes from member i mod members.
        #[arg(long, default_value_t = 1_000, value_name = "N")]
        members: usize,
        /// Also write the first reply to this file, for `smtp-source -F`.
        #[arg(long, value_name = "FILE")]
        sample: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a token (--admin, or --team TEAM for one team only); it is printed as the last word
    /// on stdout, once.
    Create {
        /// The token may do everything: every team, tokens, backups, metrics.
        #[arg(long, conflicts_with = "team")]
        admin: bool,
        /// Scope the token to this team (name or id): it sees only that team's routes.
        #[arg(long, value_name = "TEAM")]
        team: Option<String>,
        /// A note for `token list` (who or what uses the token).
        #[arg(long, default_value = "", value_name = "TEXT")]
        label: String,
        /// The token stops working after this many days.
        #[arg(long, value_name = "DAYS")]
        expires_days: Option<u32>,
    },
    /// List tokens (never the tokens themselves: id, scope, label, expiry).
    List,
    /// Revoke the token with this id.
    Revoke {
        /// The token's id, as `token list` shows it.
        id: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum TeamCmd {
    /// Create a team; it gets the schedules of [defaults] in the configuration.
    Add {
        /// The team's name (unique).
        name: String,
        /// The team's time zone: an IANA name such as Europe/Berlin, America/New_York or UTC.
        #[arg(long, value_name = "ZONE")]
        tz: String,
    },
    /// List the teams: id, name, time zone.
    List,
    /// Change a team's zone, schedules, working days, holidays or digest email; prints the team.
    Set {
        /// The team's name or id.
        team: String,
        /// The team's time zone: an IANA name such as Europe/Berlin.
        #[arg(long, value_name = "ZONE")]
        tz: Option<String>,
        /// The prompt's schedule, cron in each member's local time ("0 18 * * 1-5").
        #[arg(long, value_name = "CRON")]
        prompt: Option<String>,
        /// The digest's schedule, cron in each member's local time ("0 9 * * 1-5").
        #[arg(long, value_name = "CRON")]
        digest: Option<String>,
        /// Working days: "mon-fri", "mon,tue,thu".
        #[arg(long, value_name = "DAYS")]
        working_days: Option<String>,
        /// Holidays, replacing the list: "2026-12-24,2026-12-25" (empty: none).
        #[arg(long, value_name = "DATES")]
        holidays: Option<String>,
        /// Email the digest to each active member (true, the default) or not (only the team's chats).
        #[arg(long, value_name = "true|false")]
        digest_email: Option<bool>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCmd {
    /// Add a member to a team; the daily question goes to their email address.
    Add {
        /// The team's name or id.
        team: String,
        /// The member's email address (where prompts and digests go, and replies come from).
        email: String,
        /// The member's name, as digests show it.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// The member's own time zone (IANA name such as Asia/Tokyo); default: the team's.
        #[arg(long, value_name = "ZONE")]
        tz: Option<String>,
        /// Make them an admin of the team: on the web they manage its members and schedules.
        #[arg(long)]
        admin: bool,
    },
    /// List a team's members: id, name, email, state (paused until when), time zone.
    List {
        /// The team's name or id.
        team: String,
    },
    /// Pause a member: no email from donebot (no daily question, no digest) until resumed, or
    /// through --until.
    Pause {
        /// The team's name or id.
        team: String,
        /// The member's id or email address.
        member: String,
        /// The last day of the pause (inclusive, YYYY-MM-DD, not in the past); default: until resumed.
        #[arg(long, value_name = "YYYY-MM-DD")]
        until: Option<NaiveDate>,
    },
    /// Resume a paused (or unsubscribed) member: the daily question and the digest come again.
    Resume {
        /// The team's name or id.
        team: String,
        /// The member's id or email address.
        member: String,
    },
    /// Remove a member: a former member whose dones stay; nothing more is sent to them and their
    /// address may be added again.
    Remove {
        /// The team's name or id.
        team: String,
        /// The member's id or email address.
        member: String,
    },
    /// A one-time code that links the member's chat account (`/start CODE`); printed last.
    LinkCode {
        /// The team's name or id.
        team: String,
        /// The member's id or email address.
        member: String,
        /// The chat service: telegram or slack.
        #[arg(long, default_value = "telegram", value_name = "CHANNEL")]
        channel: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCmd {
    /// The next COUNT times a schedule fires from the start of a local date.
    Preview {
        /// The time zone the schedule runs in: an IANA name such as Europe/Berlin.
        #[arg(long, value_name = "ZONE")]
        tz: String,
        /// A cron expression with seconds: "0 0 18 * * Mon-Fri" is 18:00 on weekdays.
        #[arg(long, value_name = "EXPR")]
        cron: String,
        /// The first local day to look at.
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: NaiveDate,
        /// How many times to print.
        #[arg(long, default_value_t = 10, value_name = "N")]
        count: usize,
        /// A member's own prompt days ("mon,wed,fri", "mon-thu"): only those days' fires, at the
        /// schedule's time (or --time).
        #[arg(long, value_name = "DAYS")]
        days: Option<String>,
        /// A member's own prompt time, HH:MM in the zone: every (chosen) day at that time.
        #[arg(long, value_name = "HH:MM")]
        time: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboxCmd {
    /// Messages per state.
    Status,
    /// List messages, oldest first: id, state, kind, recipient, attempts, the last reply.
    List {
        /// Only messages in this state.
        #[arg(long, value_enum, value_name = "STATE")]
        state: Option<OutboxStateArg>,
        /// How many messages to print.
        #[arg(long, default_value_t = 50, value_name = "N")]
        limit: usize,
    },
    /// Queue a failed or deferred message again.
    Retry {
        /// The message's id, as `outbox list` shows it.
        id: u64,
    },
}

/// The format of `donebot export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Comma-separated values with a header line (RFC 4180).
    Csv,
    /// An array of objects.
    Json,
}

/// A state of an outgoing message (`storage::OutboxState` without its details).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutboxStateArg {
    /// Waiting for its due time.
    Queued,
    /// Being handed to the mail server or chat service now.
    Sending,
    /// Accepted by the next hop.
    Sent,
    /// A temporary failure; tried again later.
    Deferred,
    /// Given up (a permanent failure, or temporary ones for too long).
    Failed,
}

impl OutboxStateArg {
    /// The name `storage::OutboxState::as_str` gives the same state.
    fn as_str(self) -> &'static str {
        match self {
            OutboxStateArg::Queued => "queued",
            OutboxStateArg::Sending => "sending",
            OutboxStateArg::Sent => "sent",
            OutboxStateArg::Deferred => "deferred",
            OutboxStateArg::Failed => "failed",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum InboundCmd {
    /// List received mail, oldest first: id, time, how it came, sender, state, outcome or error.
    List {
        /// Only mail whose processing failed.
        #[arg(long)]
        failed: bool,
        /// How many messages to print.
        #[arg(long, default_value_t = 50, value_name = "N")]
        limit: usize,
    },
}

/// A failure with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        let error = e.into();
        let code = match error.downcast_ref::<AppError>() {
            Some(AppError::Invalid(_) | AppError::NotFound(_) | AppError::Conflict(_)) => 2,
            _ if error.downcast_ref::<crate::config::ConfigError>().is_some() => 2,
            _ => 1,
        };
        Failure { code, error }
    }
}

fn invalid(msg: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        error: anyhow!(msg.into()),
    }
}

pub fn run(cli: Cli) -> Result<(), Failure> {
    let settings = || -> Result<Settings, Failure> {
        let (mut config, name) = Config::load(cli.config.as_deref(), std::env::vars())?;
        if let Some(d) = &cli.data {
            config.data_dir = d.clone();
        }
        Ok(config.validate(&name)?)
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings()?),
        Command::Trim { file, dones } => trim(file.as_deref(), dones),
        Command::Import {
            team,
            file,
            create_members,
            text_column,
        } => import(&settings()?, &team, &file, create_members, text_column),
        Command::Export {
            team,
            format,
            from,
            to,
        } => {
            use crate::domain::export;
            let s = settings()?;
            let (format, name) = match format {
                ExportFormat::Csv => (export::Format::Csv, "csv"),
                ExportFormat::Json => (export::Format::Json, "json"),
            };
            let body = with_store(
                &s,
                |store| {
                    let team = store.find_team(&team).map_err(AppError::from)?;
                    let rows = export::rows(store, team.id, from, to)?;
                    Ok(export::render(&rows, format))
                },
                |api| {
                    let mut params = vec![("format", name.to_owned())];
                    params.extend(from.map(|d| ("from", d.to_string())));
                    params.extend(to.map(|d| ("to", d.to_string())));
                    api.get_text(&format!(
                        "/api/v1/teams/{team}/export?{}",
                        serde_urlencoded::to_string(&params)?
                    ))
                },
            )?;
            print!("{body}");
            if format == export::Format::Json {
                println!();
            }
            Ok(())
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "donebot",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Schedule(ScheduleCmd::Preview {
            tz,
            cron,
            from,
            count,
            days,
            time,
        }) => {
            let tz = scheduler::parse_tz(&tz).map_err(|e| invalid(e.to_string()))?;
            let days = match days.as_deref() {
                Some(d) => crate::commands::schedule::parse_day_list(d)
                    .map_err(|e| invalid(format!("--days: {e}")))?,
                None => None,
            };
            let time = match time.as_deref() {
                Some(t) => Some(
                    chrono::NaiveTime::parse_from_str(t, "%H:%M")
                        .map_err(|_| invalid(format!("--time: {t:?} is not HH:MM")))?,
                ),
                None => None,
            };
            // A member's schedule: their time every day, on their days (the same code as the
            // server's team actor).
            let choice = scheduler::MemberChoice {
                days: days.as_deref(),
                time,
            };
            let expr =
                scheduler::prompt_expr(&cron, &choice).map_err(|e| invalid(e.to_string()))?;
            let schedule =
                scheduler::Schedule::new(&expr, tz).map_err(|e| invalid(e.to_string()))?;
            let all_days = scheduler::Calendar {
                working_days: scheduler::WeekdaySet::ALL,
                holidays: Default::default(),
            };
            let calendar = scheduler::prompt_calendar(&all_days, &choice)
                .map_err(|e| invalid(e.to_string()))?;
            use chrono::Datelike as _;
            let fires = schedule
                .preview(from, count.saturating_mul(7).saturating_add(7))
                .into_iter()
                .filter(|t| calendar.working_days.contains(t.weekday()))
                .take(count);
            for t in fires {
                println!("{}", t.to_rfc3339());
            }
            Ok(())
        }
        Command::Token(TokenCmd::Create {
            admin,
            team,
            label,
            expires_days,
        }) => {
            if !admin && team.is_none() {
                return Err(invalid(
                    "say what the token may do: --admin, or --team TEAM",
                ));
            }
            let s = settings()?;
            let now = chrono::Utc::now();
            let body = serde_json::json!({
                "admin": admin,
                "team": team,
                "label": label,
                "expires_in_days": expires_days,
            });
            let token = with_store(
                &s,
                |store| {
                    let scope = ops::TokenScope {
                        admin,
                        team: match &team {
                            Some(t) => Some(store.find_team(t)?.id),
                            None => None,
                        },
                        expires_at: expires_days
                            .filter(|d| *d > 0)
                            .map(|d| now + chrono::Duration::days(i64::from(d))),
                    };
                    Ok(ops::create_scoped_token(store, scope, &label, now)?.0)
                },
                |api| {
                    let v = api.post("/api/v1/tokens", body)?;
                    v["token"]
                        .as_str()
                        .map(str::to_string)
                        .ok_or_else(|| anyhow!("the server sent no token"))
                },
            )?;
            match &team {
                Some(t) => println!("token for team {t}: {token}"),
                None => println!("admin token: {token}"),
            }
            Ok(())
        }
        Command::Token(TokenCmd::List) => {
            let s = settings()?;
            let tokens = with_store(
                &s,
                |store| {
                    let list: Vec<crate::web::TokenView> =
                        store.tokens()?.into_iter().map(Into::into).collect();
                    Ok(serde_json::to_value(list).map_err(anyhow::Error::from)?)
                },
                |api| api.list("/api/v1/tokens"),
            )?;
            for t in tokens.as_array().into_iter().flatten() {
                let scope = match t["team_id"].as_u64() {
                    Some(team) => format!("team {team}"),
                    None => "admin".to_string(),
                };
                let expires = t["expires_at"].as_str().unwrap_or("never");
                println!(
                    "{}\t{scope}\texpires {expires}\t{}",
                    t["id"],
                    t["label"].as_str().unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Token(TokenCmd::Revoke { id }) => {
            let s = settings()?;
            with_store(
                &s,
                |store| {
                    if store.revoke_token(id)? {
                        Ok(())
                    } else {
                        Err(invalid(format!("no token {id}")))
                    }
                },
                |api| {
                    api.delete(&format!("/api/v1/tokens/{id}"))?;
                    Ok(())
                },
            )?;
            println!("token {id} revoked");
            Ok(())
        }
        Command::Team(TeamCmd::Add { name, tz }) => {
            let s = settings()?;
            let (id, name) = with_store(
                &s,
                |store| {
                    let t = ops::create_team(store, &s, &name, &tz, chrono::Utc::now())?;
                    Ok((t.id, t.name))
                },
                |api| {
                    let v = api.post(
                        "/api/v1/teams",
                        serde_json::json!({ "name": name, "timezone": tz }),
                    )?;
                    Ok((
                        v["id"].as_u64().unwrap_or_default(),
                        v["name"].as_str().unwrap_or_default().to_string(),
                    ))
                },
            )?;
            println!("team {id} {name}");
            Ok(())
        }
        Command::Team(TeamCmd::Set {
            team,
            tz,
            prompt,
            digest,
            working_days,
            holidays,
            digest_email,
        }) => {
            let s = settings()?;
            let holidays = match holidays.as_deref().map(str::trim) {
                None => None,
                Some("") => Some(Vec::new()),
                Some(list) => Some(
                    list.split(',')
                        .map(|d| {
                            NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                                invalid(format!("--holidays: {d:?} is not YYYY-MM-DD"))
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                ),
            };
            let change = ops::TeamSchedule {
                timezone: tz,
                prompt_cron: prompt,
                digest_cron: digest,
                working_days,
                holidays,
                digest_to_email: digest_email,
            };
            let shown = with_store(
                &s,
                |store| {
                    let mut team = store.find_team(&team).map_err(AppError::from)?;
                    ops::set_team_schedule(&mut team, &change)?;
                    store.update_team(&team)?;
                    Ok(serde_json::json!({
                        "id": team.id, "name": team.name, "timezone": team.timezone,
                        "prompt_cron": team.prompt_cron, "digest_cron": team.digest_cron,
                        "working_days": team.working_days.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                        "holidays": team.holidays,
                    }))
                },
                |api| {
                    let mut body = serde_json::Map::new();
                    let mut put = |k: &str, v: serde_json::Value| {
                        body.insert(k.to_owned(), v);
                    };
                    if let Some(v) = &change.timezone {
                        put("timezone", v.clone().into());
                    }
                    if let Some(v) = &change.prompt_cron {
                        put("prompt_cron", v.clone().into());
                    }
                    if let Some(v) = &change.digest_cron {
                        put("digest_cron", v.clone().into());
                    }
                    if let Some(v) = &change.working_days {
                        put("working_days", v.clone().into());
                    }
                    if let Some(v) = &change.holidays {
                        put("holidays", serde_json::json!(v));
                    }
                    if let Some(v) = change.digest_to_email {
                        put("digest_to_email", v.into());
                    }
                    api.patch(&format!("/api/v1/teams/{team}"), body.into())
                },
            )?;
            let text = |k: &str| shown[k].as_str().unwrap_or_default().to_owned();
            let days: Vec<&str> = shown["working_days"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str())
                .collect();
            println!(
                "team {} {}: {}, prompt \"{}\", digest \"{}\", working days {}, {} holidays",
                shown["id"],
                text("name"),
                text("timezone"),
                text("prompt_cron"),
                text("digest_cron"),
                days.join(","),
                shown["holidays"].as_array().map_or(0, Vec::len)
            );
            Ok(())
        }
        Command::Team(TeamCmd::List) => {
            let s = settings()?;
            let teams = with_store(
                &s,
                |store| {
                    Ok(store
                        .teams()?
                        .into_iter()
                        .map(|t| (t.id, t.name, t.timezone))
                        .collect::<Vec<_>>())
                },
                |api| {
                    let v = api.list("/api/v1/teams")?;
                    Ok(v.as_array()
                        .into_iter()
                        .flatten()
                        .map(|t| {
                            let text = |k: &str| t[k].as_str().unwrap_or_default().to_string();
                            (
                                t["id"].as_u64().unwrap_or_default(),
                                text("name"),
                                text("timezone"),
                            )
                        })
                        .collect())
                },
            )?;
            for (id, name, tz) in teams {
                println!("{id}\t{name}\t{tz}");
            }
            Ok(())
        }
        Command::Member(MemberCmd::List { team }) => {
            let s = settings()?;
            let members = with_store(
                &s,
                |store| {
                    let team = store.find_team(&team).map_err(AppError::from)?;
                    let list: Vec<crate::web::MemberView> = store
                        .members_of(team.id)?
                        .into_iter()
                        .map(Into::into)
                        .collect();
                    Ok(serde_json::to_value(list).map_err(anyhow::Error::from)?)
                },
                |api| api.list(&format!("/api/v1/teams/{team}/members")),
            )?;
            for m in members.as_array().into_iter().flatten() {
                let text = |k: &str| m[k].as_str().unwrap_or_default().to_owned();
                let state = match m["paused_until"].as_str() {
                    Some(until) => format!("{} until {until}", text("state")),
                    None => text("state"),
                };
                let zone = m["timezone"].as_str().unwrap_or("(team's)");
                println!(
                    "{}\t{}\t{}\t{state}\t{zone}",
                    m["id"],
                    text("name"),
                    text("email")
                );
            }
            Ok(())
        }
        Command::Member(MemberCmd::Pause {
            team,
            member,
            until,
        }) => member_change(&settings()?, &team, &member, MemberChange::Pause(until)),
        Command::Member(MemberCmd::Resume { team, member }) => {
            member_change(&settings()?, &team, &member, MemberChange::Resume)
        }
        Command::Member(MemberCmd::Remove { team, member }) => {
            member_change(&settings()?, &team, &member, MemberChange::Remove)
        }
        Command::Member(MemberCmd::LinkCode {
            team,
            member,
            channel,
        }) => {
            let s = settings()?;
            let (member_id, code) = with_store(
                &s,
                |store| {
                    let team = store.find_team(&team).map_err(AppError::from)?;
                    let member = find_member(store, team.id, &member)?;
                    let channel = ops::chat_channel(&channel)?;
                    let purpose = storage::LinkPurpose::Member {
                        member_id: member.id,
                    };
                    Ok((
                        member.id,
                        ops::create_link_code(store, purpose, channel, chrono::Utc::now())?,
                    ))
                },
                |api| {
                    let id = api.member_id(&team, &member)?;
                    let v = api.post(
                        &format!("/api/v1/teams/{team}/members/{id}/link-codes"),
                        serde_json::json!({ "channel": channel }),
                    )?;
                    Ok((id, v["code"].as_str().unwrap_or_default().to_string()))
                },
            )?;
            println!(
                "member {member_id}: send /start {code} to the bot (valid {} days), code {code}",
                ops::LINK_CODE_DAYS
            );
            Ok(())
        }
        Command::Member(MemberCmd::Add {
            team,
            email,
            name,
            tz,
            admin,
        }) => {
            let s = settings()?;
            let role = if admin { "admin" } else { "member" };
            let id = with_store(
                &s,
                |store| {
                    let signer = ops::signer(store)?;
                    let team = store.find_team(&team).map_err(AppError::from)?;
                    let member = ops::add_member(
                        store,
                        &s,
                        &signer,
                        &team,
                        &name,
                        &email,
                        tz.as_deref(),
                        chrono::Utc::now(),
                    )?;
                    if admin {
                        ops::set_role(store, member.id, storage::Role::Admin)?;
                    }
                    Ok(member.id)
                },
                |api| {
                    let v = api.post(
                        &format!("/api/v1/teams/{team}/members"),
                        serde_json::json!({ "name": name, "email": email, "timezone": tz, "role": role }),
                    )?;
                    Ok(v["id"].as_u64().unwrap_or_default())
                },
            )?;
            println!("member {id} {email}");
            Ok(())
        }
        Command::Search {
            team,
            query,
            member,
            from,
            to,
            tag,
            limit,
        } => {
            let s = settings()?;
            let words = query.join(" ");
            let (total, rows) = with_store(
                &s,
                |store| {
                    search_local(
                        store,
                        &team,
                        &words,
                        member.as_deref(),
                        from,
                        to,
                        tag.as_deref(),
                        limit,
                    )
                },
                |api| {
                    let mut params = vec![("q", words.clone()), ("limit", limit.to_string())];
                    params.extend(member.clone().map(|m| ("member", m)));
                    params.extend(from.map(|d| ("from", d.to_string())));
                    params.extend(to.map(|d| ("to", d.to_string())));
                    params.extend(tag.clone().map(|t| ("tag", t)));
                    let v = api.get(&format!(
                        "/api/v1/teams/{team}/search?{}",
                        serde_urlencoded::to_string(&params)?
                    ))?;
                    let members = api.list(&format!("/api/v1/teams/{team}/members"))?;
                    let name = |id: &serde_json::Value| -> String {
                        members
                            .as_array()
                            .and_then(|ms| ms.iter().find(|m| &m["id"] == id))
                            .and_then(|m| m["name"].as_str())
                            .map_or_else(|| format!("member {id}"), str::to_owned)
                    };
                    let rows = v["results"]
                        .as_array()
                        .map(|hits| {
                            hits.iter()
                                .map(|h| {
                                    format!(
                                        "{}\t{}\t{}\t{}\t{}",
                                        h["id"],
                                        h["date"].as_str().unwrap_or_default(),
                                        name(&h["member_id"]),
                                        h["kind"].as_str().unwrap_or_default(),
                                        h["text"].as_str().unwrap_or_default()
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    Ok((v["total"].as_u64().unwrap_or_default(), rows))
                },
            )?;
            for row in &rows {
                println!("{row}");
            }
            eprintln!("({} of {total} matching dones)", rows.len());
            Ok(())
        }
        Command::Backup { dir } => {
            let s = settings()?;
            let abs = std::path::absolute(&dir).with_context(|| format!("{}", dir.display()))?;
            with_store(
                &s,
                |store| Ok(storage::backup_to(store, &abs, chrono::Utc::now())?),
                |api| {
                    api.post("/api/v1/backups", serde_json::json!({ "dir": abs }))?;
                    Ok(())
                },
            )?;
            println!("backup written to {}", abs.display());
            Ok(())
        }
        Command::Restore { dir } => {
            let s = settings()?;
            if running_server(&s.data_dir).is_some() {
                return Err(invalid(format!(
                    "a donebot server is using {}; stop it before restoring",
                    s.data_dir.display()
                )));
            }
            storage::restore_from(&dir, &s.data_dir).map_err(|e| match e {
                StorageError::Conflict(m) => invalid(format!(
                    "{m} (restore needs an empty data directory: move {} aside first)",
                    s.data_dir.display()
                )),
                other => other.into(),
            })?;
            println!("restored {} into {}", dir.display(), s.data_dir.display());
            Ok(())
        }
        Command::Outbox(OutboxCmd::Status) => {
            let s = settings()?;
            let status: OutboxStatus = with_store(
                &s,
                |store| Ok(OutboxStatus::of(store)?),
                |api| Ok(serde_json::from_value(api.get("/api/v1/outbox")?)?),
            )?;
            println!(
                "queued {}\nsending {}\ndeferred {}\nsent {}\nfailed {}",
                status.queued, status.sending, status.deferred, status.sent, status.failed
            );
            if let Some(due) = status.oldest_due {
                println!("oldest due {}", due.to_rfc3339());
            }
            Ok(())
        }
        Command::Outbox(OutboxCmd::List { state, limit }) => {
            let s = settings()?;
            let state = state.map(OutboxStateArg::as_str);
            let list: Vec<OutboxView> = with_store(
                &s,
                |store| {
                    Ok(store
                        .outbox_list(state, limit)?
                        .into_iter()
                        .map(Into::into)
                        .collect())
                },
                |api| {
                    let mut params = vec![("limit", limit.to_string())];
                    params.extend(state.map(|s| ("state", s.to_owned())));
                    let path = format!(
                        "/api/v1/outbox/messages?{}",
                        serde_urlencoded::to_string(&params)?
                    );
                    Ok(serde_json::from_value(api.get(&path)?["items"].take())?)
                },
            )?;
            for m in list {
                // A chat message's recipient is shown with its channel: `telegram:-100123`.
                let to = match m.channel.as_str() {
                    "email" => m.to.join(","),
                    chat => format!("{chat}:{}", m.to.join(",")),
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    m.id,
                    m.state,
                    crate::logging::kind(m.kind),
                    to,
                    m.attempts,
                    m.reply
                );
            }
            Ok(())
        }
        Command::Outbox(OutboxCmd::Retry { id }) => {
            let s = settings()?;
            let m: OutboxView = with_store(
                &s,
                |store| {
                    let m = store
                        .retry_outbox(id, chrono::Utc::now())
                        .map_err(AppError::from)?;
                    Ok(m.into())
                },
                |api| {
                    let path = format!("/api/v1/outbox/messages/{id}/retry");
                    Ok(serde_json::from_value(
                        api.post(&path, serde_json::Value::Null)?,
                    )?)
                },
            )?;
            println!("outbox message {} is {} again", m.id, m.state);
            Ok(())
        }
        Command::Bench(BenchCmd::Outbox {
            smtp,
            messages,
            concurrency,
            overlap,
        }) => {
            let report = crate::bench::outbox::run(crate::bench::outbox::Options {
                smtp,
                messages,
                concurrency,
                overlap,
                data: cli.data.clone(),
            })?;
            for line in report.lines() {
                println!("{line}");
            }
            Ok(())
        }
        Command::Bench(BenchCmd::Search {
            dones,
            teams,
            vocabulary,
            queries,
            threads,
            arena_mib,
            no_peer,
        }) => {
            let report = crate::bench::search::run(crate::bench::search::Options {
                dones,
                teams,
                vocabulary,
                queries,
                threads,
                arena_mib,
                no_peer,
                data: cli.data.clone(),
            })?;
            for line in report.lines() {
                println!("{line}");
            }
            Ok(())
        }
        Command::Reindex => reindex(&settings()?.data_dir),
        Command::Bench(BenchCmd::Inbound {
            messages,
            concurrency,
            teams,
            members,
            sample,
        }) => {
            let report = crate::bench::inbound::run(crate::bench::inbound::Options {
                messages,
                concurrency,
                teams,
                members,
                sample,
                data: cli.data.clone(),
            })?;
            for line in report.lines() {
                println!("{line}");
            }
            Ok(())
        }
        Command::Inbound(InboundCmd::List { failed, limit }) => {
            let s = settings()?;
            let list: Vec<InboundView> = with_store(
                &s,
                |store| {
                    Ok(store
                        .inbound_list(failed, limit)?
                        .into_iter()
                        .map(Into::into)
                        .collect())
                },
                |api| {
                    let path = format!("/api/v1/inbound?failed={failed}&limit={limit}");
                    Ok(serde_json::from_value(api.get(&path)?["items"].take())?)
                },
            )?;
            for r in list {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    r.id,
                    r.received_at.to_rfc3339(),
                    r.via,
                    r.mail_from,
                    r.state,
                    r.detail
                );
            }
            Ok(())
        }
    }
}

fn serve(settings: Settings) -> Result<(), Failure> {
    let system = actix_rt::System::new();
    system.block_on(async move {
        let server = Server::start(settings, Arc::new(SystemClock)).await.map_err(|e| match e.downcast_ref::<StorageError>() {
            Some(StorageError::Locked { .. }) => Failure { code: 2, error: e },
            _ => e.into(),
        })?;
        // Listen for SIGTERM/SIGINT before the banner says donebot is running: whoever reads the
        // banner (a supervisor, a test) may stop it right away.
        let stop = stop_signal();
        let s = &server.app.settings;
        println!("donebot is running");
        println!("  web and API    http://{}  (API under /api/v1, described at /api/v1/openapi.json)", server.web_addr);
        match server.smtp_addr {
            Some(a) => println!("  inbound SMTP   {a}  (mail to reply+...@{})", s.domain),
            None => println!("  inbound SMTP   off"),
        }
        match &s.smtp_url {
            Some(u) => println!("  outgoing mail  {}", redact(u)),
            None => println!("  outgoing mail  written as .eml files to {}", s.eml_dir().display()),
        }
        println!("  data           {}", s.data_dir.display());
        if let Some(t) = &server.first_admin_token {
            println!("  admin token    {t}  (shown once; create more with `donebot token create --admin`)");
        }
        stop.await;
        server.stop().await;
        Ok::<(), Failure>(())
    })
}

/// Resolves on the first SIGTERM or SIGINT (Ctrl-C) received after this call.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // Registered now, synchronously: a signal that arrives before the future is first polled
        // is still seen.
        let signals = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        async move {
            match signals {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_string(),
    }
}

fn trim(file: Option<&Path>, dones: bool) -> Result<(), Failure> {
    let mut bytes = Vec::new();
    match file {
        None => std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?,
        Some(p) if p == Path::new("-") => std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?,
        Some(p) => {
            bytes = std::fs::read(p).map_err(|e| invalid(format!("{}: {e}", p.display())))?;
            bytes.len()
        }
    };
    let text = bots::email::trim::trim_input(&bytes)
        .map_err(|e| invalid(format!("unreadable input: {e}")))?;
    if dones {
        // The team actor's path: `RecordReply` text → `parse_lines`.
        for done in crate::domain::lines::parse_lines(&text) {
            println!("{}", done.text);
        }
        return Ok(());
    }
    if !text.is_empty() {
        println!("{text}");
    }
    Ok(())
}

/// `donebot import`: through the running server, or on the data directory.
fn import(
    s: &Settings,
    team: &str,
    file: &Path,
    create_members: bool,
    text_column: Option<String>,
) -> Result<(), Failure> {
    use crate::domain::import::{self, ImportError, Options};
    let mut csv = Vec::new();
    let limit = import::MAX_BYTES as u64 + 1;
    if file == Path::new("-") {
        std::io::stdin().take(limit).read_to_end(&mut csv)?;
    } else {
        std::fs::File::open(file)
            .with_context(|| format!("cannot read {}", file.display()))?
            .take(limit)
            .read_to_end(&mut csv)?;
    }
    let opts = Options {
        create_members,
        text_column,
    };
    // Bad rows, as the API lists them: `(line, reason)`.
    let rejected = |message: String, rows: Vec<(u64, String)>| {
        for (line, why) in rows {
            eprintln!("line {line}: {why}");
        }
        invalid(message)
    };
    let outcome = with_store(
        s,
        |store| {
            let team = store.find_team(team).map_err(AppError::from)?;
            let members = store.members_of(team.id)?;
            let now = chrono::Utc::now();
            let today = |m: Option<&storage::Member>| {
                let zone = m
                    .and_then(|m| m.timezone.as_deref())
                    .unwrap_or(&team.timezone);
                ops::parse_tz(zone)
                    .map(|tz| now.with_timezone(&tz).date_naive())
                    .unwrap_or_else(|_| now.date_naive())
            };
            let plan = match import::plan(&team, &members, &csv, &opts, today) {
                Ok(plan) => plan,
                Err(ImportError::App(e)) => return Err(e.into()),
                Err(ImportError::File(m)) => return Ok(Err((m, Vec::new()))),
                Err(ImportError::Rows { errors, total }) => {
                    let rows = errors
                        .into_iter()
                        .map(|e| (e.line as u64, e.message))
                        .collect();
                    let rows_word = if total == 1 { "row" } else { "rows" };
                    let m = format!("{total} {rows_word} cannot be imported; nothing was written");
                    return Ok(Err((m, rows)));
                }
            };
            let signer = ops::signer(store)?;
            let mut added = Vec::new();
            for (email, name) in plan.new_members() {
                added.push(ops::add_member(
                    store, s, &signer, &team, &name, &email, None, now,
                )?);
            }
            let (summary, _) = plan.apply(store, now, &added)?;
            Ok(Ok(
                serde_json::to_value(summary).map_err(anyhow::Error::from)?
            ))
        },
        |api| {
            let mut params = vec![("create_members", create_members.to_string())];
            params.extend(opts.text_column.clone().map(|c| ("text_column", c)));
            let path = format!(
                "/api/v1/teams/{team}/import?{}",
                serde_urlencoded::to_string(&params)?
            );
            let (status, v) = api.post_csv(&path, csv.clone())?;
            if status.is_success() {
                return Ok(Ok(v));
            }
            let message = v["error"]["message"]
                .as_str()
                .unwrap_or("no details")
                .to_owned();
            if v["error"]["code"] != "invalid_import" {
                return Err(Api::failure(status, &v));
            }
            let rows = v["error"]["rows"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    let why = r["message"].as_str().unwrap_or_default().to_owned();
                    (r["line"].as_u64().unwrap_or_default(), why)
                })
                .collect();
            Ok(Err((message, rows)))
        },
    )?;
    let summary = outcome.map_err(|(message, rows)| rejected(message, rows))?;
    let created = summary["members_created"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    println!(
        "{} rows: {} dones recorded, {} rows already imported, {} rows without a done",
        summary["rows"], summary["recorded"], summary["duplicates"], summary["empty_rows"]
    );
    if !created.is_empty() {
        println!("members added: {created}");
    }
    Ok(())
}

/// Runs `local` on the data directory, or `remote` through the running server that holds it.
fn with_store<T>(
    s: &Settings,
    local: impl FnOnce(&Store) -> Result<T, Failure>,
    remote: impl FnOnce(&Api) -> anyhow::Result<T>,
) -> Result<T, Failure> {
    match Store::open(&s.data_dir) {
        Ok(store) => {
            let r = local(&store)?;
            store.flush()?;
            Ok(r)
        }
        Err(StorageError::Locked { .. }) => {
            let info = running_server(&s.data_dir).ok_or_else(|| {
                invalid(format!(
                    "{} is in use by another process, and its {CONTROL_FILE} does not name this \
                     directory (a server older than this command, or not a donebot server): \
                     stop that process, or restart the server",
                    s.data_dir.display()
                ))
            })?;
            eprintln!(
                "(a donebot server is running on this data directory; going through its API at http://{})",
                info.web
            );
            Ok(remote(&Api::new(info)?)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// `donebot search` on a stopped server's data directory: the index catches up with the change
/// log (or is rebuilt) first, then answers.
#[allow(clippy::too_many_arguments)]
fn search_local(
    store: &Store,
    team: &str,
    words: &str,
    member: Option<&str>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    tag: Option<&str>,
    limit: usize,
) -> Result<(u64, Vec<String>), Failure> {
    let team = store.find_team(team).map_err(AppError::from)?;
    let member = member
        .map(|m| find_member(store, team.id, m).map(|m| m.id))
        .transpose()?;
    if !(1..=storage::search::MAX_LIMIT).contains(&limit) {
        return Err(invalid(format!(
            "--limit must be between 1 and {}",
            storage::search::MAX_LIMIT
        )));
    }
    let search = store.start_search()?;
    if !search.wait_caught_up(std::time::Duration::from_secs(600))? {
        return Err(anyhow!("the search index did not catch up in 10 minutes").into());
    }
    let query = storage::SearchQuery {
        member,
        from,
        to,
        tag: tag.map(str::to_string),
        limit,
        ..storage::SearchQuery::team(team.id).words(words)
    };
    let found = search.query(&query).map_err(|e| match e {
        storage::SearchError::InvalidQuery(msg) => invalid(msg),
        other => other.into(),
    })?;
    search.stop();
    // A former member's dones stay searchable: shown by id when the record is gone.
    let name = |id: u64| {
        store
            .member(id)
            .map_or_else(|_| format!("member {id}"), |m| m.name)
    };
    let rows = found
        .hits
        .iter()
        .map(|h| {
            let d = &h.done;
            format!(
                "{}\t{}\t{}\t{}\t{}",
                d.id,
                d.day,
                name(d.member_id),
                d.kind.as_str(),
                d.text
            )
        })
        .collect();
    Ok((found.total as u64, rows))
}

/// `donebot reindex`: the whole index rebuilt from sled on a stopped server's data directory,
/// with a progress bar on a terminal (plain lines every 10% otherwise).
fn reindex(data_dir: &std::path::Path) -> Result<(), Failure> {
    use std::io::{IsTerminal as _, Write as _};
    let store = match Store::open(data_dir) {
        Err(StorageError::Locked { .. }) => {
            return Err(invalid(format!(
                "{} is in use (a running server?): stop the server, then reindex (a server \
                 rebuilds a missing or stale index by itself at start-up)",
                data_dir.display()
            )));
        }
        other => other?,
    };
    let terminal = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let mut shown = (std::time::Instant::now(), u64::MAX);
    let mut progress = |done: u64, total: u64| {
        let percent = done * 100 / total.max(1);
        let mut err = std::io::stderr().lock();
        if terminal {
            if shown.0.elapsed() < std::time::Duration::from_millis(100) && done < total {
                return;
            }
            let filled = (percent / 4) as usize;
            let _ = write!(
                err,
                "\rreindexing [{}{}] {percent:>3}% {done}/{total} dones",
                "#".repeat(filled),
                " ".repeat(25 - filled.min(25))
            );
            let _ = err.flush();
        } else if percent / 10 != shown.1 / 10 || done == total {
            let _ = writeln!(err, "reindexing: {percent}% ({done} of {total} dones)");
        }
        shown = (std::time::Instant::now(), percent);
    };
    let n = store
        .reindex_search(&mut progress)
        .map_err(|e| anyhow!("reindex: {e}"))?;
    if terminal {
        eprintln!();
    }
    store.flush()?;
    println!(
        "search index rebuilt: {n} dones in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A member of `team` by id or email address.
fn find_member(store: &Store, team: u64, member: &str) -> Result<storage::Member, Failure> {
    let found = match member.parse::<u64>() {
        Ok(id) => store.member(id).ok(),
        Err(_) => store
            .members_by_email(member)?
            .into_iter()
            .find(|m| m.team_id == team),
    };
    found
        .filter(|m| m.team_id == team)
        .ok_or_else(|| invalid(format!("no member {member:?} in that team")))
}

/// The server running on `data_dir`, from its control file, if that file is about this very
/// directory (see [`ControlInfo::data_dir`]).
fn running_server(data_dir: &Path) -> Option<ControlInfo> {
    let bytes = std::fs::read(data_dir.join(CONTROL_FILE)).ok()?;
    let info: ControlInfo = serde_json::from_slice(&bytes).ok()?;
    let here = data_dir.canonicalize().ok()?;
    (info.data_dir.as_deref() == Some(here.as_path())).then_some(info)
}

/// What `member pause/resume/remove` asks for.
#[derive(Debug, Clone, Copy)]
enum MemberChange {
    Pause(Option<NaiveDate>),
    Resume,
    Remove,
}

/// Applies `change` to a member, on the data directory or through the running server's API (the
/// same checks either way: a pause does not end in the past, a removed member stays removed).
fn member_change(
    s: &Settings,
    team: &str,
    member: &str,
    change: MemberChange,
) -> Result<(), Failure> {
    let body = match change {
        MemberChange::Pause(until) => serde_json::json!({"state": "paused", "paused_until": until}),
        MemberChange::Resume => serde_json::json!({"state": "active"}),
        MemberChange::Remove => serde_json::Value::Null,
    };
    let shown = with_store(
        s,
        |store| {
            let team = store.find_team(team).map_err(AppError::from)?;
            let m = find_member(store, team.id, member)?;
            if matches!(m.state, storage::MemberState::Removed { .. }) {
                return Err(invalid(format!("member {} was removed", m.id)));
            }
            let now = chrono::Utc::now();
            let m = match change {
                MemberChange::Remove => store.remove_member(m.id, now)?,
                MemberChange::Resume => {
                    store.update_member(m.id, |m| m.state = storage::MemberState::Active)?
                }
                MemberChange::Pause(until) => {
                    let zone = m.timezone.as_deref().unwrap_or(&team.timezone);
                    let today = now.with_timezone(&ops::parse_tz(zone)?).date_naive();
                    if let Some(day) = until.filter(|d| *d < today) {
                        return Err(invalid(format!(
                            "--until {day} has already passed (today is {today})"
                        )));
                    }
                    store
                        .update_member(m.id, |m| m.state = storage::MemberState::Paused { until })?
                }
            };
            Ok(serde_json::to_value(crate::web::MemberView::from(m))
                .map_err(anyhow::Error::from)?)
        },
        |api| {
            let id = api.member_id(team, member)?;
            let path = format!("/api/v1/teams/{team}/members/{id}");
            match change {
                MemberChange::Remove => api.delete(&path),
                _ => api.patch(&path, body),
            }
        },
    )?;
    let until = shown["paused_until"]
        .as_str()
        .map(|d| format!(" until {d}"))
        .unwrap_or_default();
    println!(
        "member {} {}{until}",
        shown["id"],
        shown["state"].as_str().unwrap_or_default()
    );
    Ok(())
}

/// The API of the running server, as its local admin.
struct Api {
    info: ControlInfo,
    client: reqwest::blocking::Client,
}

impl Api {
    fn new(info: ControlInfo) -> anyhow::Result<Api> {
        Ok(Api {
            info,
            client: reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(120))
                .build()?,
        })
    }

    fn get(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        self.call(self.client.get(format!("http://{}{path}", self.info.web)))
    }

    /// Every item of a list, page after page (`path` without `limit` or `cursor`), as one array.
    fn list(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        /// A bound on the pages followed, against a server that never says "last".
        const MAX_PAGES: usize = 10_000;
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page_path = match &cursor {
                None => format!("{path}{sep}limit=1000"),
                Some(c) => format!(
                    "{path}{sep}limit=1000&{}",
                    serde_urlencoded::to_string([("cursor", c)])?
                ),
            };
            let mut page = self.get(&page_path)?;
            if let serde_json::Value::Array(more) = page["items"].take() {
                items.extend(more);
            }
            match page["next"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(serde_json::Value::Array(items)),
            }
        }
        Err(anyhow!("{path}: more than {MAX_PAGES} pages"))
    }

    fn delete(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        self.call(
            self.client
                .delete(format!("http://{}{path}", self.info.web)),
        )
    }

    /// The id of `member` (an id or an email address) in `team`, as the server lists them.
    fn member_id(&self, team: &str, member: &str) -> anyhow::Result<u64> {
        let members = self.list(&format!("/api/v1/teams/{team}/members"))?;
        members
            .as_array()
            .and_then(|ms| {
                ms.iter().find(|m| {
                    m["id"].as_u64().map(|i| i.to_string()).as_deref() == Some(member)
                        || m["email"]
                            .as_str()
                            .is_some_and(|e| e.eq_ignore_ascii_case(member))
                })
            })
            .and_then(|m| m["id"].as_u64())
            .ok_or_else(|| {
                anyhow::Error::new(AppError::NotFound(format!(
                    "member {member} in team {team}"
                )))
            })
    }

    fn patch(&self, path: &str, body: serde_json::Value) -> anyhow::Result<serde_json::Value> {
        self.call(
            self.client
                .patch(format!("http://{}{path}", self.info.web))
                .json(&body),
        )
    }

    fn post(&self, path: &str, body: serde_json::Value) -> anyhow::Result<serde_json::Value> {
        self.call(
            self.client
                .post(format!("http://{}{path}", self.info.web))
                .json(&body),
        )
    }

    /// `POST path` with a CSV body; the answer whatever its status.
    fn post_csv(
        &self,
        path: &str,
        csv: Vec<u8>,
    ) -> anyhow::Result<(reqwest::StatusCode, serde_json::Value)> {
        let resp = self
            .client
            .post(format!("http://{}{path}", self.info.web))
            .header(reqwest::header::CONTENT_TYPE, "text/csv")
            .body(csv)
            .bearer_auth(&self.info.token)
            .send()
            .with_context(|| format!("cannot reach the running server at {}", self.info.web))?;
        let status = resp.status();
        Ok((status, resp.json().unwrap_or(serde_json::Value::Null)))
    }

    /// `GET path` for a body that is not JSON (an export).
    fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let resp = self.send(self.client.get(format!("http://{}{path}", self.info.web)))?;
        Ok(resp.text()?)
    }

    /// Sends as the local admin; an error answer becomes the error it describes.
    fn send(
        &self,
        req: reqwest::blocking::RequestBuilder,
    ) -> anyhow::Result<reqwest::blocking::Response> {
        let resp = req
            .bearer_auth(&self.info.token)
            .send()
            .with_context(|| format!("cannot reach the running server at {}", self.info.web))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let v: serde_json::Value = resp.json().unwrap_or(serde_json::Value::Null);
        Err(Self::failure(status, &v))
    }

    fn call(&self, req: reqwest::blocking::RequestBuilder) -> anyhow::Result<serde_json::Value> {
        let resp = self.send(req)?;
        Ok(resp.json().unwrap_or(serde_json::Value::Null))
    }

    fn failure(status: reqwest::StatusCode, v: &serde_json::Value) -> anyhow::Error {
        let msg = v["error"]["message"]
            .as_str()
            .unwrap_or("no details")
            .to_string();
        if status.is_client_error() {
            return anyhow::Error::new(AppError::Invalid(msg));
        }
        anyhow!("the server answered {status}: {msg}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every command and every option says what it is for (`--help` is never empty).
    #[test]
    fn every_command_and_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", cmd.get_name());
            if cmd.get_about().is_none() {
                missing.push(path.clone());
            }
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} <{}>", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
        Cli::command().debug_assert();
    }

    #[test]
    fn a_control_file_is_trusted_only_for_the_directory_it_names() {
        let tmp = tempfile::tempdir().unwrap();
        let (here, there) = (tmp.path().join("here"), tmp.path().join("there"));
        std::fs::create_dir_all(&here).unwrap();
        std::fs::create_dir_all(&there).unwrap();
        let write = |data_dir: Option<&Path>| {
            let info = ControlInfo {
                pid: 1,
                web: "127.0.0.1:1".into(),
                token: "t".into(),
                data_dir: data_dir.map(|d| d.canonicalize().unwrap()),
            };
            std::fs::write(here.join(CONTROL_FILE), serde_json::to_vec(&info).unwrap()).unwrap();
        };
        write(Some(&here));
        assert!(running_server(&here).is_some());
        // Through another spelling of the same directory too.
        assert!(running_server(&tmp.path().join("there/../here")).is_some());
        write(Some(&there));
        assert!(running_server(&here).is_none());
        write(None);
        assert!(running_server(&here).is_none());
    }

    #[test]
    fn outbox_states_are_the_stored_ones() {
        let stored = [
            storage::OutboxState::Queued,
            storage::OutboxState::Sending {
                since: chrono::DateTime::UNIX_EPOCH,
            },
            storage::OutboxState::Sent {
                at: chrono::DateTime::UNIX_EPOCH,
                reply: String::new(),
            },
            storage::OutboxState::Deferred {
                reply: String::new(),
            },
            storage::OutboxState::Failed {
                at: chrono::DateTime::UNIX_EPOCH,
                reply: String::new(),
            },
        ];
        let args: Vec<&str> = OutboxStateArg::value_variants()
            .iter()
            .map(|s| s.as_str())
            .collect();
        let names: Vec<&str> = stored.iter().map(|s| s.as_str()).collect();
        assert_eq!(args, names);
        for s in OutboxStateArg::value_variants() {
            assert_eq!(s.to_possible_value().unwrap().get_name(), s.as_str());
        }
    }
}
