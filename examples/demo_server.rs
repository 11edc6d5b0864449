//! The demo MCP server on its own, serving its five tools over stdin and stdout:
//! `cargo run --example demo_server`. `examples/mcp.json` starts it this way.

#[path = "support/demo.rs"]
mod demo;

fn main() {
    demo::run()
}
