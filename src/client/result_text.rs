//! Reading the text out of a tool result.

use rmcp::model::CallToolResult;

/// The text of a [`CallToolResult`], for the common case of a tool that answers in text.
///
/// ```
/// use mcp_dispatch::ResultText;
/// use mcp_dispatch::model::{CallToolResult, ContentBlock};
///
/// let result = CallToolResult::success(vec![ContentBlock::text("a"), ContentBlock::text("b")]);
/// assert_eq!(result.text(), "a\nb");
/// ```
pub trait ResultText {
    /// The result's text content items joined by newlines; empty if it has none. Other
    /// content (images, resources) is skipped.
    fn text(&self) -> String;
}

impl ResultText for CallToolResult {
    fn text(&self) -> String {
        let texts: Vec<&str> = self
            .content
            .iter()
            .filter_map(|content| content.as_text().map(|text| text.text.as_str()))
            .collect();
        texts.join("\n")
    }
}
