"""A Python SDK client through a live reload, under load.

Usage: reload_client.py SSE_URL MANAGE_BASE TOKEN CONFIG_PATH NEW_CONFIG_PATH

Connects over SSE, starts four `slow` calls on the backend the reload keeps,
waits until the gateway reports them in flight, replaces the config file
and POSTs /manage/v1/reload, then waits for `tools/list_changed`, lists the
tools again and collects the calls' answers. Prints one JSON line.
"""

import asyncio
import json
import shutil
import sys

import httpx
from mcp import ClientSession, types
from mcp.client.sse import sse_client

URL, MANAGE, TOKEN, CONFIG, NEW_CONFIG = sys.argv[1:6]
CALLS = 4


async def main():
    changed = asyncio.Event()

    async def on_message(message):
        if isinstance(message, types.ServerNotification) and isinstance(
            message.root, types.ToolListChangedNotification
        ):
            changed.set()

    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with sse_client(URL, timeout=10, sse_read_timeout=60) as (read, write):
        async with ClientSession(read, write, message_handler=on_message) as session:
            await session.initialize()
            before = [t.name for t in (await session.list_tools()).tools]
            calls = [
                asyncio.create_task(session.call_tool("slow", {"ms": 1500, "n": i}))
                for i in range(CALLS)
            ]
            async with httpx.AsyncClient(base_url=MANAGE, headers=headers, timeout=60) as http:
                loop = asyncio.get_running_loop()
                end = loop.time() + 20
                in_flight = 0
                while in_flight < CALLS and loop.time() < end:
                    sessions = (await http.get("sessions")).json()["sessions"]
                    in_flight = sum(s["in_flight"] for s in sessions)
                    if in_flight < CALLS:
                        await asyncio.sleep(0.05)
                shutil.copyfile(NEW_CONFIG, CONFIG)
                reload = await http.post("reload")
                reload_body = reload.json()
            await asyncio.wait_for(changed.wait(), 20)
            after = [t.name for t in (await session.list_tools()).tools]
            results = await asyncio.gather(*calls)
            print(
                json.dumps(
                    {
                        "in_flight_at_reload": in_flight,
                        "before": before,
                        "after": after,
                        "reload_status": reload.status_code,
                        "reload": reload_body,
                        "calls": ["".join(getattr(c, "text", "") for c in r.content) for r in results],
                        "call_errors": [bool(r.isError) for r in results],
                    }
                ),
                flush=True,
            )


asyncio.run(asyncio.wait_for(main(), timeout=90))
