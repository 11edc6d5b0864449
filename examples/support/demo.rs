//! The demo MCP server the examples talk to: five small tools, served over stdio.
//!
//! An example includes it with `#[path = "support/demo.rs"] mod demo;` and calls [`run`] when
//! it is started with `--serve`, so each example is its own server and needs no install.
//! `cargo run --example demo_server` runs it on its own, as `examples/mcp.json` does.
//!
//! - `echo { text }`: the text, unchanged.
//! - `add { a, b }`: the sum.
//! - `divide { a, b }`: the quotient; dividing by zero is a tool error.
//! - `word_count { text }`: how many words the text has.
//! - `countdown { from, delay_ms }`: counts down to liftoff, one number every `delay_ms`,
//!   reporting each number as progress when the call asks for progress.
//!
//! The tests use another server, `support/server.rs`, whose tools exist to break things.

use std::time::Duration;

use rmcp::{
    RoleServer, ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::ProgressNotificationParam,
    service::RequestContext,
    tool, tool_handler, tool_router,
};
use serde::Deserialize;

/// The most `countdown` counts from.
const MAX_COUNTDOWN: u32 = 1000;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// The text to send back.
    text: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct TwoNumbers {
    /// The first number.
    a: f64,
    /// The second number.
    b: f64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct WordCountArgs {
    /// The text whose words to count.
    text: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct CountdownArgs {
    /// The number to count down from, 1 to 1000.
    from: u32,
    /// How long to wait before each number, in milliseconds.
    delay_ms: u64,
}

/// The demo server. It keeps no state: every call stands alone.
#[derive(Debug, Clone)]
struct Demo {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Demo {
    #[tool(
        description = "Returns the text unchanged.",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        text
    }

    #[tool(
        description = "Adds two numbers: a + b. Whole results have no decimal point.",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    fn add(&self, Parameters(TwoNumbers { a, b }): Parameters<TwoNumbers>) -> String {
        // `Display` for f64 prints 5.0 as "5" and 2.5 as "2.5".
        (a + b).to_string()
    }

    #[tool(
        description = "Divides a by b. Dividing by zero fails.",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    fn divide(
        &self,
        Parameters(TwoNumbers { a, b }): Parameters<TwoNumbers>,
    ) -> Result<String, String> {
        if b == 0.0 {
            // An error result (`isError: true`) that the caller, or a model, can read.
            return Err(format!("cannot divide {a} by zero"));
        }
        Ok((a / b).to_string())
    }

    #[tool(
        description = "Counts the words of a text (runs of characters between whitespace).",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    fn word_count(&self, Parameters(WordCountArgs { text }): Parameters<WordCountArgs>) -> String {
        text.split_whitespace().count().to_string()
    }

    #[tool(
        description = "Counts down from `from` to liftoff, one number every delay_ms.\n\
                       Reports each number as progress (progress 1 to `from`, total `from`) \
                       and returns the numbers counted, such as \"3, 2, 1, liftoff!\".",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn countdown(
        &self,
        Parameters(CountdownArgs { from, delay_ms }): Parameters<CountdownArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<String, String> {
        if !(1..=MAX_COUNTDOWN).contains(&from) {
            return Err(format!("`from` must be 1 to {MAX_COUNTDOWN}, not {from}"));
        }
        // Present only when the caller asked for progress reports.
        let token = context.meta.get_progress_token();
        let mut said = Vec::new();
        for step in 1..=from {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(delay_ms)) => {}
                () = context.ct.cancelled() => return Err("cancelled".to_owned()),
            }
            let number = (from - step + 1).to_string();
            if let Some(token) = &token {
                let report = ProgressNotificationParam::new(token.clone(), f64::from(step))
                    .with_total(f64::from(from))
                    .with_message(number.clone());
                if let Err(error) = context.peer.notify_progress(report).await {
                    return Err(format!("could not report progress: {error}"));
                }
            }
            said.push(number);
        }
        said.push("liftoff!".to_owned());
        Ok(said.join(", "))
    }
}

#[tool_handler(
    router = self.tool_router,
    name = "mcp-dispatch-demo",
    instructions = "A demo server: echo, arithmetic, a word count and a countdown."
)]
impl ServerHandler for Demo {}

/// Serves the demo tools over stdin and stdout until stdin closes, then returns.
///
/// Errors go to stderr and end the process with status 1.
pub fn run() {
    let fail = |what: &str, error: &dyn std::fmt::Display| -> ! {
        eprintln!("demo server: {what}: {error}");
        std::process::exit(1)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|error| fail("cannot start tokio", &error));
    runtime.block_on(async {
        let demo = Demo {
            tool_router: Demo::tool_router(),
        };
        let running = match rmcp::serve_server(demo, rmcp::transport::stdio_pipes()).await {
            Ok(running) => running,
            // The client went away before the handshake ended: nothing to serve.
            Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => return,
            Err(error) => fail("the handshake failed", &error),
        };
        if let Err(error) = running.waiting().await {
            fail("the session failed", &error);
        }
    });
    // A read of stdin may still be pending in tokio's blocking pool; do not wait for it.
    runtime.shutdown_background();
}
