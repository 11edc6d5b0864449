//! The MCP server bundled for tests and examples: serves the test tools over stdio, or over
//! streamable HTTP with `--http 127.0.0.1:0` (it then prints `listening on http://IP:PORT/mcp`
//! and serves until stdin closes). Run: cargo run --example test_server [-- --http ADDR]

#[path = "support/server.rs"]
mod server;

fn main() {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let addr = if arg == "--http" {
            args.next()
        } else if let Some(addr) = arg.strip_prefix("--http=") {
            Some(addr.to_owned())
        } else {
            continue;
        };
        match addr {
            Some(addr) => return server::run_http(&addr),
            None => {
                eprintln!("test server: --http needs an address, such as 127.0.0.1:0");
                std::process::exit(2);
            }
        }
    }
    server::run()
}
