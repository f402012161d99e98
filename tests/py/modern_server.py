"""A 2026-07-28-only MCP server (Python `mcp` 2.x `MCPServer`) over
Streamable HTTP on 127.0.0.1:PORT: no `initialize`, every request
stateless. Its `where` tool takes an `x-mcp-header` argument, which the
SDK checks against the `Mcp-Param-Region` header. Usage: modern_server.py
PORT. Used by tests/modern_backends.rs."""

import sys
from typing import Annotated

from pydantic import Field

from mcp.server.mcpserver import MCPServer

port = int(sys.argv[1])
server = MCPServer("python-modern")


@server.tool()
def echo(text: str) -> str:
    """Echoes text, naming this server."""
    return f"modern:{text}"


@server.tool()
def where(region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]) -> str:
    """Answers with the region it was told, in the body and the header."""
    return f"modern:region={region}"


if __name__ == "__main__":
    server.run(transport="streamable-http", host="127.0.0.1", port=port)
