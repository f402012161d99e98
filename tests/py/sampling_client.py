"""Calls a tool through the gateway with the Python `mcp` SDK (by default
server-everything's `trigger-sampling-request`), answering the relayed
sampling request itself; prints the tool's text as JSON. The call carries a
progress token (a progress callback). Usage:
python sampling_client.py URL [TOOL JSON_ARGS]
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

async def progress(progress, total, message):
    pass

async def main(url, tool, args):
    async with connect(url) as (r, w):
        async with ClientSession(r, w, sampling_callback=sampling) as s:
            await s.initialize()
            res = await s.call_tool(tool, args, progress_callback=progress)
            print(json.dumps([getattr(c, "text", "") for c in res.content]))

tool = sys.argv[2] if len(sys.argv) > 2 else "trigger-sampling-request"
args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {"prompt": "hello", "maxTokens": 10}
asyncio.run(asyncio.wait_for(main(sys.argv[1], tool, args), 30))
