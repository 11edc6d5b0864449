"""An MCP server written with the official Python SDK, for tests/interop.rs.

tests/interop.rs installs the SDK it is pinned to (mcp==2.3.0) under
target/tmp/interop/python3.X-mcp-2.3.0/ and runs this file with that directory on
PYTHONPATH; it speaks MCP over stdio.
"""

try:  # mcp 2.x renamed FastMCP to MCPServer.
    from mcp.server.mcpserver import MCPServer
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as MCPServer

server = MCPServer("interop-python")


@server.tool()
def echo(text: str) -> str:
    """Returns `text` unchanged."""
    return text


@server.tool()
def add(a: float, b: float) -> float:
    """Returns the sum of `a` and `b`."""
    return a + b


@server.tool()
def fail(message: str) -> str:
    """Always raises; the SDK reports the exception as an isError result."""
    raise RuntimeError(message)


if __name__ == "__main__":
    server.run("stdio")
