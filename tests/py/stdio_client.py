"""Runs `argus-mcp stdio -c CONFIG` as a stdio MCP server with the Python
`mcp` SDK's stdio client; lists the tools, calls TOOL with JSON_ARGS, and
prints {"tools": [...], "call": text} as JSON.
Usage: python stdio_client.py ARGUS_BINARY CONFIG TOOL JSON_ARGS"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(binary, config, tool, args):
    params = StdioServerParameters(command=binary, args=["stdio", "-c", config])
    async with stdio_client(params) as (r, w):
        async with ClientSession(r, w) as s:
            init = await s.initialize()
            tools = [t.name for t in (await s.list_tools()).tools]
            res = await s.call_tool(tool, args)
            text = "".join(getattr(c, "text", "") for c in res.content)
            print(json.dumps({"server": init.serverInfo.name, "tools": tools, "call": text}))


asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])), 60))
