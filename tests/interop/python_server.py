"""An MCP server written with the official Python SDK, for tests/interop.rs.

Install the SDK with `python3 -m pip install mcp==2.3.0` (the version .ci/run pins), then
run `python3 tests/interop/python_server.py`: it speaks MCP over stdio.
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
