//! The client of one server: the `Client` handle and its builder, the state behind it, the
//! tool cache, and the options of calls.

pub(crate) mod builder;
pub(crate) mod counters;
pub(crate) mod handle;
pub(crate) mod handlers;
pub(crate) mod inner;
pub(crate) mod options;
pub(crate) mod result_text;
pub(crate) mod tool_cache;

pub(crate) use handle::*;
