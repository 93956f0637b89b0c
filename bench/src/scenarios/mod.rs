//! The scenarios, one function per table (or a few tables).

mod calls;
mod fan;

pub(crate) use calls::{http_small, small_req, ws_big, ws_small};
pub(crate) use fan::fan;
