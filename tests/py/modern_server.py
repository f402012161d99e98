"""A 2026-07-28-only MCP server (Python `mcp` 2.x `MCPServer`) over
Streamable HTTP on 127.0.0.1:PORT (2026-07-28 only: no `initialize`, every
request stateless), or over stdio with PORT `stdio`. Its `where` tool takes
an `x-mcp-header` argument, which the SDK checks against the
`Mcp-Param-Region` header. Usage: modern_server.py PORT|stdio. Used by
tests/modern_backends.rs."""

import sys
from typing import Annotated

from pydantic import Field

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ElicitRequest, ElicitRequestFormParams, InputRequiredResult

server = MCPServer("python-modern")


@server.tool()
def echo(text: str) -> str:
    """Echoes text, naming this server."""
    return f"modern:{text}"


@server.tool()
def where(region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]) -> str:
    """Answers with the region it was told, in the body and the header."""
    return f"modern:region={region}"


@server.tool()
async def ask(ctx: Context) -> str | InputRequiredResult:
    """Asks the client for a name the 2026-07-28 way (an input-required
    result with its own state), then greets it."""
    answer = (ctx.input_responses or {}).get("who")
    if answer is not None and ctx.request_state == "backend-state":
        content = getattr(answer, "content", None) or {}
        return f"modern:hello {content.get('name')}"
    return InputRequiredResult(
        input_requests={
            "who": ElicitRequest(
                params=ElicitRequestFormParams(
                    message="Who are you?",
                    requested_schema={
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "required": ["name"],
                    },
                )
            )
        },
        request_state="backend-state",
    )


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        server.run()
    else:
        server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
