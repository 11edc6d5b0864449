//! Client for the official MCP conformance suite; run it with `bash conformance/run.sh`.

use std::process::ExitCode;
use std::time::Duration;

use mcp_dispatch::ResultText;
use mcp_dispatch::model::{ElicitRequestParams, ElicitResult, ElicitationAction};
use mcp_dispatch::{Client, EnterpriseLogin, Handlers, OAuth, ServerConfig};
use serde_json::{Map, Value, json};

#[path = "support/browser.rs"]
#[allow(dead_code, reason = "the test suite uses the rest")]
mod browser;

type Outcome = Result<(), String>;

fn main() -> ExitCode {
    let Some(url) = std::env::args().skip(1).last() else {
        eprintln!("usage: conformance <server-url>  (with MCP_CONFORMANCE_SCENARIO set)");
        return ExitCode::from(2);
    };
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    eprintln!("conformance client: scenario `{scenario}`, server {url}");

    let mut handlers = Handlers::new();
    if scenario.starts_with("elicitation") || scenario == "sep-2322-client-request-state" {
        handlers = handlers.on_elicitation(|request| async move { Ok(accept_defaults(&request)) });
    }
    // Shorter than the suite's 30 s per scenario, so a hang ends with our own message.
    let mut builder =
        Client::builder(ServerConfig::http(url.as_str()).oauth(oauth_settings(&scenario)))
            .handlers(handlers)
            .connect_timeout(Duration::from_secs(10))
            .call_timeout(Duration::from_secs(15));
    if scenario.starts_with("auth/") {
        builder = builder
            .sign_in(browser::follow_redirect)
            .sign_in_timeout(Duration::from_secs(10));
    }
    let client = builder.build();

    let outcome = match scenario.as_str() {
        "tools_call" => call_and_expect(&client, "add_numbers", json!({"a": 5, "b": 3}), "8"),
        "elicitation-sep1034-client-defaults" => call_and_expect(
            &client,
            "test_client_elicitation_defaults",
            json!({}),
            "Elicitation completed",
        ),
        "sse-retry" => call_and_expect(
            &client,
            "test_reconnection",
            json!({}),
            "Reconnection test completed",
        ),
        // input_required rounds (2026-07-28): the state echoed, no state invented, and a call
        // made while another waits for input carries none of it.
        "sep-2322-client-request-state" => {
            let concurrent = futures::executor::block_on(futures::future::join(
                client.call_tool("test_mrtr_echo_state", json!({})),
                client.call_tool("test_mrtr_unrelated", json!({})),
            ));
            expect_text("test_mrtr_echo_state", concurrent.0, "echo-state-ok")
                .and_then(|()| expect_text("test_mrtr_unrelated", concurrent.1, "unrelated-ok"))
                .and_then(|()| {
                    call_and_expect(&client, "test_mrtr_no_state", json!({}), "no-state-ok")
                })
                .and_then(|()| {
                    call_and_expect(
                        &client,
                        "test_mrtr_no_result_type",
                        json!({}),
                        "no-result-type-test-ok",
                    )
                })
        }
        // The focal tool's input schema, sent back as the server received it.
        "json-schema-2020-12-preservation" => client
            .list_tools_blocking()
            .map_err(|error| format!("list tools: {error}"))
            .and_then(|tools| {
                let focal = tools
                    .iter()
                    .find(|tool| tool.name == "json_schema_2020_12_tool")
                    .ok_or("the server does not list `json_schema_2020_12_tool`")?;
                let schema = Value::Object((*focal.input_schema).clone());
                call_and_expect(&client, "json_schema_echo", json!({"schema": schema}), "")
            }),
        // The calls the suite names in its context (their arguments become headers).
        "http-custom-headers" => {
            let calls = context()
                .get("toolCalls")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            calls.iter().try_for_each(|call| {
                let name = call.get("name").and_then(Value::as_str).unwrap_or_default();
                let arguments = call.get("arguments").cloned().unwrap_or(Value::Null);
                call_and_expect(&client, name, arguments, "")
            })
        }
        // The tools with invalid headers are left out of the list; the valid one works.
        "http-invalid-tool-headers" => {
            call_and_expect(&client, "valid_tool", json!({"region": "us-west1"}), "")
        }
        // The auth/ scenarios: sign in, list the tools and call the first one with no
        // arguments, as the reference clients do (a call is what a step-up answers).
        auth if auth.starts_with("auth/") => list_tools(&client).and_then(|tools| {
            let Some(first) = tools.first() else {
                return Ok(());
            };
            client
                .call_tool_blocking(first.as_str(), json!({}))
                .map(|result| eprintln!("`{first}` answered: {}", result.text()))
                .map_err(|error| format!("call `{first}`: {error}"))
        }),
        // `initialize`, and any scenario this client has no special steps for: connect,
        // which runs the handshake, and list the tools.
        other => list_tools(&client).and_then(|_| match other {
            "initialize" => Ok(()),
            _ => Err(format!("no steps for scenario `{other}` beyond connecting")),
        }),
    };
    if let Err(error) = client.close_blocking() {
        eprintln!("close: {error}");
    }
    match outcome {
        Ok(()) => {
            eprintln!("scenario `{scenario}`: done");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("scenario `{scenario}` failed: {message}");
            ExitCode::FAILURE
        }
    }
}

/// What the suite hands over in `MCP_CONFORMANCE_CONTEXT` (`null` when there is nothing).
fn context() -> Value {
    std::env::var("MCP_CONFORMANCE_CONTEXT")
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// Checks the answer of a call made without [`call_and_expect`].
fn expect_text(
    tool: &str,
    answer: mcp_dispatch::Result<mcp_dispatch::model::CallToolResult>,
    expected: &str,
) -> Outcome {
    let result = answer.map_err(|error| format!("call `{tool}`: {error}"))?;
    let text = result.text();
    eprintln!("`{tool}` answered: {text}");
    if result.is_error == Some(true) || !text.contains(expected) {
        return Err(format!("`{tool}` answered {text:?}, expected {expected:?}"));
    }
    Ok(())
}

/// This client's OAuth identity, from what the suite hands over in `MCP_CONFORMANCE_CONTEXT`:
/// machine credentials for the client-credentials scenarios; otherwise the suite's Client ID
/// Metadata Document URL, and a pre-registered client if there is one.
fn oauth_settings(scenario: &str) -> OAuth {
    let context = context();
    let field = |name: &str| {
        context
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    match scenario {
        "auth/client-credentials-basic" => {
            return OAuth::client_credentials(field("client_id"), field("client_secret"));
        }
        "auth/cross-app-access-complete-flow" => {
            let login = EnterpriseLogin::new(
                field("idp_issuer"),
                field("idp_token_endpoint"),
                field("idp_client_id"),
                field("idp_id_token"),
            );
            return OAuth::enterprise(field("client_id"), field("client_secret"), login);
        }
        "auth/client-credentials-jwt" => {
            return OAuth::private_key_jwt(
                field("client_id"),
                field("private_key_pem"),
                field("signing_algorithm"),
            );
        }
        _ => {}
    }
    let mut oauth =
        OAuth::new().client_metadata_url("https://conformance-test.local/client-metadata.json");
    if let Some(client_id) = context.get("client_id").and_then(Value::as_str) {
        oauth = oauth.client_id(client_id);
        if let Some(secret) = context.get("client_secret").and_then(Value::as_str) {
            oauth = oauth.client_secret(secret);
        }
    }
    oauth
}

fn list_tools(client: &Client) -> Result<Vec<String>, String> {
    let tools = client
        .list_tools_blocking()
        .map_err(|error| format!("list_tools: {error}"))?;
    let names: Vec<String> = tools.iter().map(|tool| tool.name.to_string()).collect();
    eprintln!("connected; tools: [{}]", names.join(", "));
    Ok(names)
}

/// Lists the tools, checks `tool` is among them, calls it, and checks that the result is not
/// an error and that its text contains `expected`.
fn call_and_expect(client: &Client, tool: &str, arguments: Value, expected: &str) -> Outcome {
    if !list_tools(client)?.iter().any(|name| name == tool) {
        return Err(format!("the server does not list `{tool}`"));
    }
    eprintln!("calling `{tool}` with {arguments}");
    let result = client
        .call_tool_blocking(tool, arguments)
        .map_err(|error| format!("call `{tool}`: {error}"))?;
    let text = result.text();
    eprintln!("`{tool}` answered: {text}");
    if result.is_error == Some(true) {
        return Err(format!("`{tool}` reported an error: {text}"));
    }
    if !text.contains(expected) {
        return Err(format!(
            "`{tool}` answered {text:?}, expected it to contain {expected:?}"
        ));
    }
    Ok(())
}

/// What a user who accepts every suggestion would answer: each property of the requested
/// schema that has a `default`, set to it. URL-mode elicitation has nothing to fill in and
/// is declined.
fn accept_defaults(request: &ElicitRequestParams) -> ElicitResult {
    let ElicitRequestParams::FormElicitationParams {
        message,
        requested_schema,
        ..
    } = request
    else {
        eprintln!("elicitation (not a form): declined");
        return ElicitResult::new(ElicitationAction::Decline);
    };
    let schema = serde_json::to_value(requested_schema).unwrap_or_default();
    let mut content = Map::new();
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            if let Some(default) = property.get("default") {
                content.insert(name.clone(), default.clone());
            }
        }
    }
    let content = Value::Object(content);
    eprintln!("elicitation {message:?}: accepted with {content}");
    ElicitResult::new(ElicitationAction::Accept).with_content(content)
}
