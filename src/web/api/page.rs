//! Cursor pagination of the API's lists: `?limit=&cursor=` in, `{"items": [...], "next": CURSOR
//! or null}` out. A cursor is opaque to clients: base64url of the list's name and the key of the
//! last item served, so the next page starts right after it however many items were added or
//! removed meanwhile, and a cursor of one list is refused by another.
//!
//! Invariant: a cursor is only ever decoded into a key of its own list; a malformed, foreign or
//! oversized one is a `400 invalid_cursor`, never a guess.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use chrono::NaiveDate;

use crate::error::AppError;
use crate::web::{ApiError, HttpError};

/// The most items one page holds.
pub const MAX_LIMIT: usize = 1000;
/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// The longest cursor accepted (those donebot makes are far shorter).
const MAX_CURSOR_LEN: usize = 128;

/// Where a list resumes: after the item with this key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// An id (teams, members, tokens, outbox messages, inbound records).
    Id(u64),
    /// A done: its day, then its id (the order of `GET /teams/{team}/dones`).
    Done(NaiveDate, u64),
}

/// Which list a cursor belongs to (its first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Teams = 1,
    Members = 2,
    Dones = 3,
    Tokens = 4,
    Outbox = 5,
    Inbound = 6,
}

/// The `limit` and `cursor` of a list request, checked.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub limit: usize,
    /// The key after which this page starts; `None`: the first page.
    pub after: Option<Key>,
}

impl Window {
    /// Checks `limit` (1..=[`MAX_LIMIT`]) and decodes `cursor` as one of `list`'s.
    pub fn new(
        list: List,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<Window, ListError> {
        let limit = match limit.unwrap_or(DEFAULT_LIMIT) {
            n @ 1..=MAX_LIMIT => n,
            _ => {
                return Err(
                    AppError::Invalid(format!("limit must be between 1 and {MAX_LIMIT}")).into(),
                );
            }
        };
        let after = match cursor.map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(decode(list, c).ok_or(ListError::Cursor)?),
        };
        Ok(Window { limit, after })
    }

    /// Cuts `items` (in list order, all after the cursor, at most `limit + 1` of them needed)
    /// to one page and the cursor of the next, if there is more.
    pub fn page<T>(&self, list: List, mut items: Vec<T>, key: impl Fn(&T) -> Key) -> Page<T> {
        let next = if items.len() > self.limit {
            items.truncate(self.limit);
            items.last().map(|last| encode(list, key(last)))
        } else {
            None
        };
        Page { items, next }
    }
}

/// One page of a list, as answered.
#[derive(Debug, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The cursor of the next page; `null` on the last one.
    pub next: Option<String>,
}

impl<T: serde::Serialize> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }

    pub fn respond(&self) -> HttpResponse {
        HttpResponse::Ok().json(self)
    }
}

pub fn encode(list: List, key: Key) -> String {
    let mut bytes = vec![list as u8];
    match key {
        Key::Id(id) => bytes.extend(id.to_be_bytes()),
        Key::Done(day, id) => {
            bytes.extend(chrono::Datelike::num_days_from_ce(&day).to_be_bytes());
            bytes.extend(id.to_be_bytes());
        }
    }
    data_encoding::BASE64URL_NOPAD.encode(&bytes)
}

fn decode(list: List, cursor: &str) -> Option<Key> {
    if cursor.len() > MAX_CURSOR_LEN {
        return None;
    }
    let bytes = data_encoding::BASE64URL_NOPAD
        .decode(cursor.as_bytes())
        .ok()?;
    let (&tag, rest) = bytes.split_first()?;
    if tag != list as u8 {
        return None;
    }
    let id = |b: &[u8]| Some(u64::from_be_bytes(b.try_into().ok()?));
    match (list, rest.len()) {
        (List::Dones, 12) => {
            let days = i32::from_be_bytes(rest[..4].try_into().ok()?);
            let day = NaiveDate::from_num_days_from_ce_opt(days)?;
            Some(Key::Done(day, id(&rest[4..])?))
        }
        (List::Dones, _) => None,
        (_, 8) => Some(Key::Id(id(rest)?)),
        _ => None,
    }
}

/// A list's error: the handler's own, or a cursor that is not one of this list's.
#[derive(Debug)]
pub enum ListError {
    App(ApiError),
    Cursor,
}

impl<E: Into<AppError>> From<E> for ListError {
    fn from(e: E) -> Self {
        ListError::App(ApiError(e.into()))
    }
}

impl std::fmt::Display for ListError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListError::App(e) => e.fmt(f),
            ListError::Cursor => f.write_str(CURSOR_MESSAGE),
        }
    }
}

const CURSOR_MESSAGE: &str =
    "cursor: not a cursor of this list (pass the \"next\" of the previous page as it is)";

impl ResponseError for ListError {
    fn status_code(&self) -> StatusCode {
        match self {
            ListError::App(e) => e.status_code(),
            ListError::Cursor => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ListError::App(e) => e.error_response(),
            ListError::Cursor => {
                HttpError::new(StatusCode::BAD_REQUEST, "invalid_cursor", CURSOR_MESSAGE)
                    .error_response()
            }
        }
    }
}

pub type ListResult = Result<HttpResponse, ListError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_in_its_own_list_only() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
        for (list, key) in [
            (List::Teams, Key::Id(7)),
            (List::Inbound, Key::Id(u64::MAX)),
            (List::Dones, Key::Done(day, 42)),
        ] {
            let c = encode(list, key);
            assert_eq!(decode(list, &c), Some(key), "{c}");
            assert_eq!(decode(List::Members, &c), None, "{c}");
        }
    }

    #[test]
    fn malformed_cursors_are_refused() {
        for bad in ["", "!!!", "AQ", &"A".repeat(200), "AwAA"] {
            assert_eq!(decode(List::Dones, bad), None, "{bad}");
            assert_eq!(decode(List::Teams, bad), None, "{bad}");
        }
        let w = Window::new(List::Teams, None, Some("nope"));
        assert!(matches!(w, Err(ListError::Cursor)));
        for limit in [0, MAX_LIMIT + 1] {
            assert!(matches!(
                Window::new(List::Teams, Some(limit), None),
                Err(ListError::App(ApiError(AppError::Invalid(_))))
            ));
        }
    }

    #[test]
    fn a_page_names_its_successor_only_when_there_is_more() {
        let w = Window::new(List::Teams, Some(2), None).unwrap();
        let p = w.page(List::Teams, vec![1u64, 2, 3], |&i| Key::Id(i));
        assert_eq!(p.items, [1, 2]);
        let next = p.next.expect("more");
        let w = Window::new(List::Teams, Some(2), Some(&next)).unwrap();
        assert_eq!(w.after, Some(Key::Id(2)));
        let p = w.page(List::Teams, vec![3u64], |&i| Key::Id(i));
        assert_eq!((p.items, p.next), (vec![3], None));
    }
}
