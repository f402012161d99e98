"""Connects to an MCP server over SSE with the Python `mcp` SDK, lists
everything and prints one JSON line. Used by tests/real_clients.rs."""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.sse import sse_client


async def main(url: str) -> None:
    async with sse_client(url, timeout=10, sse_read_timeout=30) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            resources = await session.list_resources()
            templates = await session.list_resource_templates()
            prompts = await session.list_prompts()
            await session.send_ping()
            print(
                json.dumps(
                    {
                        "server": init.serverInfo.name,
                        "protocol": init.protocolVersion,
                        "tools": [t.name for t in tools.tools],
                        "resources": [r.uri for r in resources.resources],
                        "templates": [t.uriTemplate for t in templates.resourceTemplates],
                        "prompts": [p.name for p in prompts.prompts],
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), timeout=60))
