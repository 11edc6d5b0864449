//! Model Context Protocol clients for Rust programs that do not run tokio.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod blocking;
mod client;
mod config;
mod dispatcher;
mod error;
mod executor;
mod runtime;
mod session;
mod single_flight;
mod stdio;
mod sync;

pub use client::{Client, ClientBuilder};
pub use config::ServerConfig;
pub use dispatcher::{Dispatcher, Job};
pub use error::{Error, Result};
pub use executor::Executor;

/// The MCP data model, re-exported from rmcp unchanged: [`CallToolResult`](model::CallToolResult),
/// [`Tool`](model::Tool), [`Content`](model::Content), [`ServerPeerInfo`](model::ServerPeerInfo)
/// and the rest.
pub mod model {
    pub use rmcp::model::*;
}
