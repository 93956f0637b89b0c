//! The scenarios, one function per table (or a few tables).

mod calls;
mod cluster;
mod fan;

pub(crate) use calls::{http_small, small_req, ws_big, ws_small};
pub(crate) use cluster::cluster;
pub(crate) use fan::fan;
