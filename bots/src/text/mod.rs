//! Channel-neutral text rules shared by every channel: which lines of what a person typed are
//! their work, and which are the ritual around it (a closing sign-off, the name or signature block
//! under it, a mobile client's footer).
//!
//! It lives in `bots`, beside the reply trimmer, because both read the same vocabularies (the
//! mobile footers of [`footer`], the sign-offs of [`signoff`]) in the same languages, and one list
//! in one place is what keeps the two steps agreeing; it knows nothing of email or chat. The app
//! (`donebot::domain::lines`) turns the lines [`closing::work_lines`] keeps into dones, for email
//! and chat replies alike.
//!
//! Invariant: these rules only ever drop lines at the *end* of a text; a line that has typed work
//! after it is never dropped.

pub mod closing;
pub mod footer;
pub mod signoff;
