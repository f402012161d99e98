"""One caller, known by its bearer token, through the gateway with the
Python `mcp` SDK: lists the tools, then calls each named tool with the
same arguments, and prints one JSON line
{"tools": [sorted names], "calls": {name: {"ok": text} | {"error": {"code", "message"}}
| {"is_error": text}}}.

Usage: policy_client.py MODE URL TOKEN ARGS_JSON TOOL...
MODE: `sse` (mcp 1.x, legacy SSE at URL), `http` (mcp 1.x, Streamable
HTTP) or `2026-07-28` (mcp 2.x `Client` pinned to that version, with the
Streamable HTTP transport). Used by tests/policy_sdk.rs.
"""

import asyncio
import contextlib
import json
import sys

from sdk_outcome import outcome

MODE, URL, TOKEN, ARGS = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
TOOLS = sys.argv[5:]
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.asynccontextmanager
async def legacy_session():
    from mcp import ClientSession
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamablehttp_client

    if MODE == "sse":
        streams = sse_client(URL, headers=HEADERS, timeout=10, sse_read_timeout=30)
    else:
        streams = streamablehttp_client(URL, headers=HEADERS, timeout=10, sse_read_timeout=30)
    async with streams as (read, write, *_):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


async def main() -> None:
    out = {"calls": {}}
    if MODE in ("sse", "http"):
        async with legacy_session() as session:
            out["tools"] = sorted(t.name for t in (await session.list_tools()).tools)
            for name in TOOLS:
                out["calls"][name] = await outcome(session.call_tool(name, ARGS))
    else:
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        async with httpx2.AsyncClient(headers=HEADERS, timeout=30) as http:
            transport = streamable_http_client(URL, http_client=http)
            async with Client(transport, mode=MODE, read_timeout_seconds=30) as client:
                out["tools"] = sorted(t.name for t in (await client.list_tools()).tools)
                for name in TOOLS:
                    out["calls"][name] = await outcome(client.call_tool(name, ARGS))
    print(json.dumps(out), flush=True)


asyncio.run(asyncio.wait_for(main(), timeout=90))
