//! The MCP server bundled for tests and examples: serves the test tools over stdio. Run: cargo run --example test_server

#[path = "support/server.rs"]
mod server;

fn main() {
    server::run()
}
