//! How bytes reach a server: a child process over stdio, and the legacy HTTP+SSE transport
//! (streamable HTTP is rmcp's own), with bounds on what a server can send.

pub(crate) mod line_limit;
pub(crate) mod log_budget;
pub(crate) mod process;
#[cfg(feature = "http")]
pub(crate) mod sse;
pub(crate) mod stdio;
