"""The Python `mcp` 2.x `Client` through the gateway, in one connect mode.

Usage: modern_client.py URL MODE   (MODE: 2026-07-28, auto or legacy)

Lists the tools, calls a tool of each backend, then calls whose backend
asks the client something: an elicitation (the stdio conformance fixture)
and samplings (Python SSE and Streamable HTTP servers). With a 2026-07-28 connection those questions come
back as input-required results (the gateway's bridge), which the SDK
answers through its callbacks and retries. Prints one JSON line.
Used by tests/modern_sdk.rs.
"""

import asyncio
import json
import sys

from mcp import Client, types
from sdk_outcome import text_of

URL, MODE = sys.argv[1], sys.argv[2]


async def on_elicit(context, params):
    return types.ElicitResult(action="accept", content={"response": "from python"})


async def on_sample(context, params):
    return types.CreateMessageResult(
        role="assistant",
        model="test-model",
        content=types.TextContent(type="text", text="sampled in python"),
    )


async def main() -> None:
    async with Client(
        URL,
        mode=MODE,
        elicitation_callback=on_elicit,
        sampling_callback=on_sample,
        read_timeout_seconds=30,
    ) as client:
        tools = sorted(t.name for t in (await client.list_tools()).tools)
        out = {"protocol": client.protocol_version, "tools": tools, "calls": {}}
        for name, args in [
            ("st_test_simple_text", {}),
            ("sse_echo", {"text": "hi"}),
            ("http_echo", {"text": "hi"}),
            ("st_test_elicitation", {"message": "your answer?"}),
            ("sse_sample", {"tag": "q"}),
            ("http_sample", {"tag": "r"}),
        ]:
            result = await client.call_tool(name, args)
            out["calls"][name] = {"text": text_of(result), "error": bool(result.is_error)}
        print(json.dumps(out), flush=True)


asyncio.run(asyncio.wait_for(main(), timeout=90))
