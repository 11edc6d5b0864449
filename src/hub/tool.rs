//! `HubTool` and `HubTools`: the tools a hub offers, under their qualified names.

use rmcp::model::Tool;

use crate::error::{Error, Result};

/// One tool offered by a [`Hub`](crate::Hub).
///
/// Made by [`Hub::list_tools`](crate::Hub::list_tools); its [`name`](HubTool::name) is what
/// an LLM sees and what [`Hub::call_tool`](crate::Hub::call_tool) takes.
///
/// # Example
///
/// ```no_run
/// use mcp_dispatch::{Hub, is_valid_tool_name};
///
/// let hub = Hub::from_path("mcp.json")?;
/// for tool in hub.list_tools_blocking().tools {
///     assert!(is_valid_tool_name(&tool.name));
///     println!("{} is `{}` on the server `{}`", tool.name, tool.tool.name, tool.server);
/// }
/// # Ok::<(), mcp_dispatch::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HubTool {
    /// The qualified name to show an LLM and to pass to [`Hub::call_tool`](crate::Hub::call_tool):
    /// matches `^[a-zA-Z0-9_-]{1,64}$`, unique across the hub (see
    /// [`Hub::list_tools`](crate::Hub::list_tools) for how duplicates and collisions are
    /// resolved).
    pub name: String,
    /// The server that offers it.
    pub server: String,
    /// The tool as the server describes it (its `name` is the server's own).
    pub tool: Tool,
}

impl HubTool {
    /// The tool in the shape LLM function-calling APIs take:
    /// `{"type": "function", "function": {"name", "description", "parameters"}}`, with the
    /// qualified name and the tool's input JSON schema as given by the server.
    ///
    /// ```
    /// use mcp_dispatch::HubTool;
    /// # fn show(tool: &HubTool) {
    /// let function = tool.function_json();
    /// assert_eq!(function["type"], "function");
    /// assert_eq!(function["function"]["name"], tool.name.as_str());
    /// # }
    /// ```
    pub fn function_json(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.tool.description.as_deref().unwrap_or_default(),
                "parameters": serde_json::Value::Object(self.tool.input_schema.as_ref().clone()),
            }
        })
    }
}

/// What [`Hub::list_tools`](crate::Hub::list_tools) found: the tools of every server that
/// answered, and an error for each server that did not.
///
/// # Example
///
/// ```no_run
/// use mcp_dispatch::Hub;
///
/// let hub = Hub::from_path("mcp.json")?;
/// let listed = hub.list_tools_blocking();
/// for error in &listed.errors {
///     eprintln!("{error}"); // names its server; the others' tools are still listed
/// }
/// assert!(listed.tools.windows(2).all(|pair| pair[0].name < pair[1].name));
/// # Ok::<(), mcp_dispatch::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct HubTools {
    /// The tools, sorted by qualified name; no two share a name.
    pub tools: Vec<HubTool>,
    /// One error per server that could not be listed; each names its server.
    pub errors: Vec<Error>,
}

impl HubTools {
    /// The tools, or the first server's error if any server could not be listed: for `?`
    /// where every server must answer.
    ///
    /// ```
    /// use mcp_dispatch::{Error, HubTools};
    ///
    /// let listed = HubTools::default();
    /// assert!(listed.into_result()?.is_empty());
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The first of [`errors`](HubTools::errors), which names its server.
    pub fn into_result(self) -> Result<Vec<HubTool>> {
        match self.errors.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(self.tools),
        }
    }
}
