"""Connects to an MCP server with the Python `mcp` SDK, lists everything,
optionally calls a tool, and prints one JSON line. The transport is legacy
SSE, or Streamable HTTP when the URL's path ends in /mcp.
Usage: python mcp_client.py URL [TOOL JSON_ARGS]... Used by tests/real_clients.rs.
With ARGUS_TEST_ELICIT_NAME set, it declares elicitation and accepts every
form with {"name": that value}."""

import asyncio
import contextlib
import json
import os
import sys

from mcp import ClientSession, types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamablehttp_client


@contextlib.asynccontextmanager
async def connect(url: str):
    if url.rstrip("/").endswith("/mcp"):
        async with streamablehttp_client(url, timeout=10, sse_read_timeout=30) as (read, write, _):
            yield read, write
    else:
        async with sse_client(url, timeout=10, sse_read_timeout=30) as (read, write):
            yield read, write


async def main(url: str, calls: list[tuple[str, dict]]) -> None:
    async with connect(url) as (read, write):
        name = os.environ.get("ARGUS_TEST_ELICIT_NAME")

        async def elicit(context, params):
            return types.ElicitResult(action="accept", content={"name": name})

        callback = elicit if name is not None else None
        async with ClientSession(read, write, elicitation_callback=callback) as session:
            init = await session.initialize()
            out = {
                "server": init.serverInfo.name,
                "protocol": init.protocolVersion,
                "tools": [t.name for t in (await session.list_tools()).tools],
                "resources": [],
                "templates": [],
                "prompts": [],
            }
            caps = init.capabilities
            if caps.resources is not None:
                out["resources"] = [str(r.uri) for r in (await session.list_resources()).resources]
                out["templates"] = [
                    t.uriTemplate for t in (await session.list_resource_templates()).resourceTemplates
                ]
            if caps.prompts is not None:
                out["prompts"] = [p.name for p in (await session.list_prompts()).prompts]
            await session.send_ping()
            out["calls"] = []
            for tool, args in calls:
                result = await session.call_tool(tool, args)
                text = "".join(getattr(c, "text", "") for c in result.content)
                out["calls"].append(text)
                out["call"] = text
                out["call_is_error"] = result.isError
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    rest = sys.argv[2:]
    pairs = [(rest[i], json.loads(rest[i + 1] if i + 1 < len(rest) else "{}")) for i in range(0, len(rest), 2)]
    asyncio.run(asyncio.wait_for(main(sys.argv[1], pairs), timeout=60))
