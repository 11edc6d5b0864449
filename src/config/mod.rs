//! How servers are configured: `ServerConfig` in code, and the config files people already
//! have (`mcpServers`, VS Code's `servers`).

pub(crate) mod default_name;
pub(crate) mod file;
pub(crate) mod server;

pub(crate) use server::*;
