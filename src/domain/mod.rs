//! The product's rules that are neither storage nor wire format: how a reply's lines become dones,
//! how reply tokens and signed links are made and checked, and what donebot's emails say.

pub mod digest;
pub mod export;
pub mod import;
pub mod lines;
pub mod render;
pub mod token;
