"""A Python `mcp` SDK server (FastMCP) with the tools the randomized routing
test needs, over legacy SSE or Streamable HTTP on 127.0.0.1:PORT.
Usage: python mixed_server.py PORT sse|streamable-http NAME.
Used by tests/routing_random.rs."""

import sys

from mcp.server.fastmcp import Context, FastMCP
from mcp.types import SamplingMessage, TextContent

port, transport, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
server = FastMCP(f"python-{name}", host="127.0.0.1", port=port, log_level="WARNING")


@server.tool()
def echo(text: str) -> str:
    """Echoes text, naming this server."""
    return f"{name}:{text}"


@server.tool()
async def work(tag: str, steps: int, ctx: Context) -> str:
    """Reports `steps` progress notifications and a log line, then answers."""
    for i in range(steps):
        await ctx.report_progress(i + 1, steps)
    await ctx.info(f"work {tag} done")
    return f"{name}:worked {tag}"


@server.tool()
async def sample(tag: str, ctx: Context) -> str:
    """Asks the calling client for a completion of `tag`; returns its text."""
    result = await ctx.session.create_message(
        messages=[SamplingMessage(role="user", content=TextContent(type="text", text=tag))],
        max_tokens=5,
        related_request_id=ctx.request_id,
    )
    return f"{name}:sampled {result.content.text}"


if __name__ == "__main__":
    server.run(transport=transport)
