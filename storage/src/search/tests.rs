//! The search index against a real sled database: every write becomes searchable, edits and
//! deletions show, filters filter, and a restart or a lost index directory loses nothing.
//! Each test waits for "indexed up to the last write" explicitly; none sleeps.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::*;
use crate::{Channel, NewDone, Source};

const WAIT: Duration = Duration::from_secs(20);
const TEAM: TeamId = 1;
const ADA: MemberId = 10;
const BOB: MemberId = 11;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 9, 19, 0, 0).unwrap()
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}

fn line(text: &str, tags: &[&str]) -> NewDone {
    NewDone {
        text: text.into(),
        kind: DoneKind::Done,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        mentions: vec![],
    }
}

fn source(message_id: &str) -> Source {
    Source {
        channel: Channel::Email,
        message_id: Some(message_id.into()),
        prompt_id: None,
        inbound_id: None,
    }
}

/// Records `lines` as one reply and returns the done ids.
fn record(s: &Store, team: TeamId, member: MemberId, d: NaiveDate, lines: &[NewDone]) -> Vec<u64> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    s.record_reply(team, member, d, lines, &source(&format!("m{n}@x")), now())
        .unwrap()
        .ids()
        .to_vec()
}

fn caught_up(search: &Search, store: &Store) {
    assert!(
        search.wait_indexed(store.change_seq(), WAIT).unwrap(),
        "the index caught up in time"
    );
}

fn ids(search: &Search, q: &SearchQuery) -> Vec<u64> {
    search
        .query(q)
        .unwrap()
        .hits
        .iter()
        .map(|h| h.done.id)
        .collect()
}

fn words(w: &str) -> SearchQuery {
    SearchQuery::team(TEAM).words(w)
}

#[test]
fn a_recorded_done_is_found_by_its_words_with_a_snippet() {
    let store = Store::temporary().unwrap();
    let search = store.start_search().unwrap();
    let id = record(
        &store,
        TEAM,
        ADA,
        day(9),
        &[line("Shipped the billing export <v2>", &[])],
    );
    caught_up(&search, &store);

    let found = search.query(&words("billing")).unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.hits[0].done.id, id[0]);
    assert_eq!(
        found.hits[0].snippet.as_deref(),
        Some("Shipped the <b>billing</b> export &lt;v2&gt;")
    );
    assert_eq!(
        ids(&search, &words("shipped export")),
        id,
        "all words must match"
    );
    assert!(ids(&search, &words("shipped invoices")).is_empty());
    assert!(
        ids(&search, &SearchQuery::team(TEAM + 1).words("billing")).is_empty(),
        "another team's search does not see it"
    );
}

#[test]
fn an_edit_replaces_the_words_and_a_deletion_removes_the_done() {
    let store = Store::temporary().unwrap();
    let search = store.start_search().unwrap();
    let id = record(
        &store,
        TEAM,
        ADA,
        day(9),
        &[line("fixed the flaky login test", &[])],
    )[0];
    caught_up(&search, &store);
    assert_eq!(ids(&search, &words("flaky")), [id]);

    store
        .update_done(id, now(), |d| d.text = "rewrote the signup page".into())
        .unwrap();
    caught_up(&search, &store);
    assert!(
        ids(&search, &words("flaky")).is_empty(),
        "old words are gone"
    );
    assert_eq!(ids(&search, &words("signup")), [id]);

    store.update_done(id, now(), |d| d.deleted = true).unwrap();
    caught_up(&search, &store);
    assert!(ids(&search, &words("signup")).is_empty());
    assert_eq!(search.num_docs(), 0);
}

#[test]
fn a_replaced_reply_swaps_its_dones() {
    let store = Store::temporary().unwrap();
    let search = store.start_search().unwrap();
    let src = source("edited@x");
    let old = store
        .record_reply(
            TEAM,
            ADA,
            day(9),
            &[line("draft of the roadmap", &[])],
            &src,
            now(),
        )
        .unwrap();
    let new = store
        .replace_reply(
            TEAM,
            ADA,
            day(9),
            &[line("final roadmap", &[])],
            &src,
            now(),
        )
        .unwrap();
    caught_up(&search, &store);
    assert_eq!(ids(&search, &words("roadmap")), new.ids());
    assert!(ids(&search, &words("draft")).is_empty(), "{old:?} is gone");
}

#[test]
fn filters_by_member_days_tag_and_kind_newest_first() {
    let store = Store::temporary().unwrap();
    let search = store.start_search().unwrap();
    let a8 = record(
        &store,
        TEAM,
        ADA,
        day(8),
        &[line("release notes", &["Release"])],
    )[0];
    let b9 = record(
        &store,
        TEAM,
        BOB,
        day(9),
        &[line("release party", &["fun"])],
    )[0];
    let a10 = record(
        &store,
        TEAM,
        ADA,
        day(10),
        &[
            line("release checklist", &["release"]),
            NewDone {
                kind: DoneKind::Blocker,
                ..line("release blocked on legal", &[])
            },
        ],
    );
    caught_up(&search, &store);

    assert_eq!(
        ids(&search, &words("release")),
        [a10[1], a10[0], b9, a8],
        "newest day first, then newest done"
    );
    let ada = SearchQuery {
        member: Some(ADA),
        ..words("release")
    };
    assert_eq!(ids(&search, &ada), [a10[1], a10[0], a8]);
    let range = SearchQuery {
        from: Some(day(9)),
        to: Some(day(9)),
        ..words("release")
    };
    assert_eq!(ids(&search, &range), [b9]);
    let since = SearchQuery {
        from: Some(day(9)),
        ..SearchQuery::team(TEAM)
    };
    assert_eq!(
        ids(&search, &since),
        [a10[1], a10[0], b9],
        "no words: filters only"
    );
    let tagged = SearchQuery {
        tag: Some("#RELEASE".into()),
        ..SearchQuery::team(TEAM)
    };
    assert_eq!(
        ids(&search, &tagged),
        [a10[0], a8],
        "tags in any case, with or without #"
    );
    let blockers = SearchQuery {
        kind: Some(DoneKind::Blocker),
        ..SearchQuery::team(TEAM)
    };
    assert_eq!(ids(&search, &blockers), [a10[1]]);
    assert_eq!(
        ids(&search, &words("kind:blocker")),
        [a10[1]],
        "the same in the query syntax"
    );

    let page = search
        .query(&SearchQuery {
            limit: 2,
            offset: 1,
            ..words("release")
        })
        .unwrap();
    assert_eq!(page.total, 4);
    assert_eq!(
        page.hits.iter().map(|h| h.done.id).collect::<Vec<_>>(),
        [a10[0], b9]
    );
}

#[test]
fn words_in_any_script_are_found() {
    let store = Store::temporary().unwrap();
    let search = store.start_search().unwrap();
    let fr = record(
        &store,
        TEAM,
        ADA,
        day(9),
        &[line("Réunion avec l'équipe café", &[])],
    )[0];
    let de = record(
        &store,
        TEAM,
        ADA,
        day(9),
        &[line("Straßenfest geplant", &[])],
    )[0];
    let ru = record(
        &store,
        TEAM,
        ADA,
        day(9),
        &[line("Исправил ОШИБКУ в отчёте", &[])],
    )[0];
    let zh = record(&store, TEAM, ADA, day(9), &[line("今天的会议很顺利", &[])])[0];
    let ja = record(&store, TEAM, ADA, day(9), &[line("デプロイ完了", &[])])[0];
    caught_up(&search, &store);

    assert_eq!(ids(&search, &words("reunion")), [fr], "accents fold");
    assert_eq!(ids(&search, &words("CAFÉ")), [fr], "case folds");
    assert_eq!(ids(&search, &words("strassenfest")), [de]);
    assert_eq!(ids(&search, &words("ошибку")), [ru], "Cyrillic lower-cases");
    assert_eq!(
        ids(&search, &words("会议")),
        [zh],
        "CJK words inside a sentence"
    );
    assert!(
        ids(&search, &words("议会")).is_empty(),
        "as a phrase, in order"
    );
    assert_eq!(ids(&search, &words("デプロイ")), [ja]);
}

#[test]
fn a_bad_query_is_a_clear_error() {
    let store = Store::temporary().unwrap();
    let search = store.start_search().unwrap();
    for bad in ["nosuchfield:x", "\"unclosed", "day:[1 TO"] {
        match search.query(&words(bad)) {
            Err(SearchError::InvalidQuery(msg)) => {
                assert!(msg.contains("cannot read the search"), "{bad}: {msg}")
            }
            other => panic!("{bad}: expected InvalidQuery, got {other:?}"),
        }
    }
    let backwards = SearchQuery {
        from: Some(day(10)),
        to: Some(day(9)),
        ..SearchQuery::team(TEAM)
    };
    assert!(matches!(
        search.query(&backwards),
        Err(SearchError::InvalidQuery(_))
    ));
}

#[test]
fn the_change_log_is_emptied_once_indexed_and_one_indexer_runs_at_a_time() {
    let store = Store::temporary().unwrap();
    let search = store.start_search().unwrap();
    assert!(matches!(
        store.start_search(),
        Err(SearchError::AlreadyRunning)
    ));
    record(
        &store,
        TEAM,
        ADA,
        day(9),
        &[line("one", &[]), line("two", &[])],
    );
    let seq = store.change_seq();
    caught_up(&search, &store);
    assert!(search.is_indexed(seq).unwrap());
    assert_eq!(
        store.t.search_changes.len(),
        0,
        "consumed entries are pruned"
    );
    assert_eq!(store.search_backlog_since().unwrap(), None);
    search.stop();
    assert!(
        store.start_search().is_ok(),
        "a stopped indexer can be started again"
    );
}

#[test]
fn writes_while_stopped_are_caught_up_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let first;
    {
        let store = Store::open(dir.path()).unwrap();
        let search = store.start_search().unwrap();
        first = record(
            &store,
            TEAM,
            ADA,
            day(9),
            &[line("indexed before the stop", &[])],
        )[0];
        caught_up(&search, &store);
        search.stop();
        drop(search);
        // The server is down (or the CLI wrote): the change log keeps what the index misses.
        record(
            &store,
            TEAM,
            BOB,
            day(9),
            &[line("written while stopped", &[])],
        );
        store.flush().unwrap();
        assert!(store.search_backlog_since().unwrap().is_some());
    }
    let store = reopen(dir.path());
    let search = store.start_search().unwrap();
    caught_up(&search, &store);
    assert_eq!(ids(&search, &words("stopped")).len(), 1);
    assert_eq!(ids(&search, &words("indexed")), [first]);
    assert_eq!(search.num_docs(), 2, "nothing indexed twice");
}

#[test]
fn a_lost_or_broken_index_directory_is_rebuilt_from_sled() {
    let dir = tempfile::tempdir().unwrap();
    let (kept, deleted);
    {
        let store = Store::open(dir.path()).unwrap();
        let search = store.start_search().unwrap();
        kept = record(
            &store,
            TEAM,
            ADA,
            day(9),
            &[line("survives the rebuild", &[])],
        )[0];
        deleted = record(
            &store,
            TEAM,
            ADA,
            day(9),
            &[line("deleted before the rebuild", &[])],
        )[0];
        store
            .update_done(deleted, now(), |d| d.deleted = true)
            .unwrap();
        caught_up(&search, &store);
        search.stop();
        store.flush().unwrap();
    }
    let index_dir = dir.path().join("search");
    std::fs::remove_dir_all(&index_dir).unwrap();
    {
        let store = reopen(dir.path());
        let search = store.start_search().unwrap();
        caught_up(&search, &store);
        assert_eq!(ids(&search, &words("rebuild")), [kept]);
        search.stop();
    }
    std::fs::write(index_dir.join("meta.json"), b"{ not json").unwrap();
    let store = reopen(dir.path());
    let search = store.start_search().unwrap();
    caught_up(&search, &store);
    assert_eq!(
        ids(&search, &words("rebuild")),
        [kept],
        "{deleted} stays out"
    );
}

#[test]
fn a_done_missing_from_sled_is_dropped_from_the_index() {
    let store = Store::temporary().unwrap();
    let search = store.start_search().unwrap();
    let id = record(
        &store,
        TEAM,
        ADA,
        day(9),
        &[line("ghost of a lost write", &[])],
    )[0];
    caught_up(&search, &store);
    // As if sled lost the write in a crash after the index committed it.
    store.t.dones.remove(id_key(id)).unwrap();
    assert!(ids(&search, &words("ghost")).is_empty(), "never served");
    caught_up(&search, &store);
    assert_eq!(search.num_docs(), 0, "and dropped from the index");
}

/// Opens the data directory again; sled releases its lock asynchronously after the last handle.
fn reopen(dir: &std::path::Path) -> Store {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match Store::open(dir) {
            Ok(s) => return s,
            Err(StorageError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::yield_now()
            }
            Err(e) => panic!("reopen: {e}"),
        }
    }
}
