"""Calls server-everything's `trigger-sampling-request` through the gateway
with the Python `mcp` SDK, answering the relayed sampling request itself;
prints the tool's text as JSON. Usage: python sampling_client.py URL
(legacy SSE, or Streamable HTTP when the path ends in /mcp)."""

import asyncio
import contextlib
import json
import sys

from mcp import ClientSession, types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamablehttp_client

@contextlib.asynccontextmanager
async def connect(url):
    if url.endswith("/mcp"):
        async with streamablehttp_client(url) as (r, w, _):
            yield r, w
    else:
        async with sse_client(url) as (r, w):
            yield r, w

async def sampling(context, params):
    return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="sampled by python"), model="test-model")

async def main(url):
    async with connect(url) as (r, w):
        async with ClientSession(r, w, sampling_callback=sampling) as s:
            await s.initialize()
            res = await s.call_tool("trigger-sampling-request", {"prompt": "hello", "maxTokens": 10})
            print(json.dumps([getattr(c, "text", "") for c in res.content]))

asyncio.run(asyncio.wait_for(main(sys.argv[1]), 30))
