//! donebot
