//! `ToolFilter`: which of a server's tools a hub offers.

use std::collections::HashSet;
use std::sync::Arc;

use rmcp::model::Tool;

/// Which of a server's tools a [`Hub`](crate::Hub) offers.
///
/// A filter sees each tool as its server describes it (by its name on the server, not its
/// qualified name). Give one with [`HubBuilder::server_with_filter`](crate::HubBuilder::server_with_filter),
/// [`HubBuilder::filter`](crate::HubBuilder::filter) or
/// [`Hub::add_server_with_filter`](crate::Hub::add_server_with_filter); a tool it blocks is
/// not listed, and calling it fails with [`Error::UnknownTool`](crate::Error::UnknownTool).
///
/// # Example
///
/// ```
/// use mcp_dispatch::ToolFilter;
/// use mcp_dispatch::model::Tool;
///
/// let tool = |name: &str| Tool::new(name.to_owned(), "", serde_json::Map::new());
/// let allow = ToolFilter::allow(["read_file", "list_dir"]);
/// assert!(allow.allows(&tool("read_file")));
/// assert!(!allow.allows(&tool("delete_file")));
/// let block = ToolFilter::block(["delete_file"]);
/// assert!(!block.allows(&tool("delete_file")));
/// let read_only = ToolFilter::predicate(|tool| tool.name.starts_with("read"));
/// assert!(read_only.allows(&tool("read_file")));
/// ```
#[derive(Clone)]
pub struct ToolFilter(Arc<dyn Fn(&Tool) -> bool + Send + Sync>);

impl std::fmt::Debug for ToolFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolFilter").finish_non_exhaustive()
    }
}

impl Default for ToolFilter {
    fn default() -> ToolFilter {
        ToolFilter::all()
    }
}

impl ToolFilter {
    /// Every tool.
    ///
    /// ```
    /// use mcp_dispatch::ToolFilter;
    /// use mcp_dispatch::model::Tool;
    ///
    /// let tool = Tool::new("anything", "", serde_json::Map::new());
    /// assert!(ToolFilter::all().allows(&tool));
    /// ```
    pub fn all() -> ToolFilter {
        ToolFilter(Arc::new(|_| true))
    }

    /// Only the tools named here (by their names on the server).
    ///
    /// ```
    /// use mcp_dispatch::ToolFilter;
    /// use mcp_dispatch::model::Tool;
    ///
    /// let filter = ToolFilter::allow(["read_file"]);
    /// assert!(filter.allows(&Tool::new("read_file", "", serde_json::Map::new())));
    /// assert!(!filter.allows(&Tool::new("write_file", "", serde_json::Map::new())));
    /// ```
    pub fn allow<I, S>(names: I) -> ToolFilter
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: HashSet<String> = names.into_iter().map(Into::into).collect();
        ToolFilter(Arc::new(move |tool| names.contains(tool.name.as_ref())))
    }

    /// Every tool except those named here (by their names on the server).
    ///
    /// ```
    /// use mcp_dispatch::ToolFilter;
    /// use mcp_dispatch::model::Tool;
    ///
    /// let filter = ToolFilter::block(["delete_file"]);
    /// assert!(filter.allows(&Tool::new("read_file", "", serde_json::Map::new())));
    /// assert!(!filter.allows(&Tool::new("delete_file", "", serde_json::Map::new())));
    /// ```
    pub fn block<I, S>(names: I) -> ToolFilter
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: HashSet<String> = names.into_iter().map(Into::into).collect();
        ToolFilter(Arc::new(move |tool| !names.contains(tool.name.as_ref())))
    }

    /// The tools for which `predicate` returns `true`.
    ///
    /// ```
    /// use mcp_dispatch::ToolFilter;
    /// use mcp_dispatch::model::Tool;
    ///
    /// let read_only = ToolFilter::predicate(|tool| {
    ///     tool.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true)
    /// });
    /// assert!(!read_only.allows(&Tool::new("unannotated", "", serde_json::Map::new())));
    /// ```
    pub fn predicate(predicate: impl Fn(&Tool) -> bool + Send + Sync + 'static) -> ToolFilter {
        ToolFilter(Arc::new(predicate))
    }

    /// Whether `tool` passes the filter.
    ///
    /// ```
    /// use mcp_dispatch::ToolFilter;
    /// use mcp_dispatch::model::Tool;
    ///
    /// let tool = Tool::new("echo", "", serde_json::Map::new());
    /// assert!(ToolFilter::allow(["echo"]).allows(&tool));
    /// ```
    pub fn allows(&self, tool: &Tool) -> bool {
        (self.0)(tool)
    }
}
