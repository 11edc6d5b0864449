//! Many servers behind one `Hub`: its builder, the tools it lists, filters, and the
//! qualified names an LLM API accepts.

pub(crate) mod builder;
pub(crate) mod filter;
pub(crate) mod handle;
pub(crate) mod names;
pub(crate) mod tool;

pub(crate) use handle::*;
