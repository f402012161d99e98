"""The optimizer's meta-tools through the gateway with the Python `mcp` SDK:
lists the tools, searches with `find_tool`, calls a tool through
`call_tool` and directly, calls it through `call_tool` with bad arguments,
and calls a tool that reports progress through `call_tool`. Prints one
JSON line {"tools": [names, in order], "found": structuredContent,
"found_text": the text content parsed, "via_call_tool", "direct", "bad",
"progress": outcome, "progress_seen": [progress values]}, where an
outcome is {"ok": text} | {"error": {"code", "message"}} | {"is_error": text}.

Usage: optimizer_client.py MODE URL PLAN_JSON
MODE: `sse` (mcp 1.x, legacy SSE at URL), `http` (mcp 1.x, Streamable
HTTP) or `2026-07-28` (mcp 2.x `Client` pinned to that version). PLAN_JSON:
{"query", "limit", "tool", "arguments", "bad_arguments", "progress_tool"}.
Used by tests/optimizer.rs.
"""

import asyncio
import contextlib
import json
import sys

from sdk_outcome import outcome, text_of

MODE, URL, PLAN = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])


@contextlib.asynccontextmanager
async def connect():
    """A session (1.x) or client (2.x); both have list_tools and call_tool."""
    if MODE in ("sse", "http"):
        from mcp import ClientSession
        from mcp.client.sse import sse_client
        from mcp.client.streamable_http import streamablehttp_client

        if MODE == "sse":
            streams = sse_client(URL, timeout=10, sse_read_timeout=30)
        else:
            streams = streamablehttp_client(URL, timeout=10, sse_read_timeout=30)
        async with streams as (read, write, *_):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session
    else:
        from mcp import Client

        async with Client(URL, mode=MODE, read_timeout_seconds=30) as client:
            yield client


async def main() -> None:
    out = {}
    async with connect() as client:
        out["tools"] = [t.name for t in (await client.list_tools()).tools]
        found = await client.call_tool(
            "find_tool", {"query": PLAN["query"], "limit": PLAN["limit"]}
        )
        structured = getattr(found, "structuredContent", None)
        if structured is None:
            structured = getattr(found, "structured_content", None)
        out["found"] = structured
        out["found_text"] = json.loads(text_of(found))
        tool, args = PLAN["tool"], PLAN["arguments"]
        out["via_call_tool"] = await outcome(
            client.call_tool("call_tool", {"name": tool, "arguments": args})
        )
        out["direct"] = await outcome(client.call_tool(tool, args))
        out["bad"] = await outcome(
            client.call_tool("call_tool", {"name": tool, "arguments": PLAN["bad_arguments"]})
        )
        seen = []

        async def on_progress(progress, total, message):
            seen.append(progress)

        out["progress"] = await outcome(
            client.call_tool(
                "call_tool",
                {"name": PLAN["progress_tool"], "arguments": {}},
                progress_callback=on_progress,
            )
        )
        out["progress_seen"] = seen
    print(json.dumps(out), flush=True)


asyncio.run(asyncio.wait_for(main(), timeout=90))
