"""The original Argus's own management client and TUI against our gateway.

Usage: tui_check.py BASE_URL TOKEN EXPECTED_TOOL EXPECTED_BACKEND

Runs with the pinned PyPI `argus-mcp` (its venv, see tests/run-all.sh):
1. every `ApiClient` call the TUI makes, each answer validated by the
   original's own pydantic schemas (`argus_mcp.api.schemas`);
2. the TUI itself (`ArgusApp`, what `argus-mcp tui --server URL` runs),
   headless under Textual's test pilot: it must connect, show our version
   and URLs, list our backend with its phase, and our tools.
Prints one `ok: ...` line per check; any failure raises (exit 1).
"""

import asyncio
import sys

from argus_mcp.api.client import ApiClient
from argus_mcp.tui.app import ArgusApp
from argus_mcp.tui.server_manager import ServerManager

BASE, TOKEN, TOOL, BACKEND = sys.argv[1:5]
DEADLINE = 30.0


async def client_calls():
    client = ApiClient(BASE, token=TOKEN)
    await client.connect()
    try:
        health = await client.get_health()
        assert health.status == "healthy", health
        assert health.backends.connected >= 1, health
        print("ok: health", health.status)
        ready = await client.get_ready()
        assert ready.ready, ready
        status = await client.get_status()
        assert status.service.state == "running", status
        assert status.transport.sse_url.startswith(BASE), status
        assert status.transport.streamable_http_url.startswith(BASE), status
        print("ok: status", status.service.name, status.service.version)
        backends = await client.get_backends()
        names = [b.name for b in backends.backends]
        assert BACKEND in names, names
        mine = next(b for b in backends.backends if b.name == BACKEND)
        assert mine.phase == "ready" and mine.state == "connected", mine
        assert mine.capabilities.tools >= 1, mine
        print("ok: backends", names)
        caps = await client.get_capabilities()
        tools = [t.name for t in caps.tools]
        assert TOOL in tools, tools
        assert caps.route_map[TOOL][0] == BACKEND, caps.route_map
        print("ok: capabilities", tools)
        events = await client.get_events(limit=50)
        stages = [e.stage for e in events.events]
        assert "backend_connected" in stages, stages
        print("ok: events", len(events.events))
        sessions = await client.get_sessions()
        assert sessions.active_sessions == len(sessions.sessions), sessions
        print("ok: sessions", sessions.active_sessions)
        groups = await client.get_groups()
        assert groups["total_servers"] >= 1, groups
        print("ok: groups", sorted(groups["groups"]))
        batch = await client.get_batch(events_limit=5)
        assert batch.status.service.state == "running", batch
        assert len(batch.events.events) <= 5, batch
        print("ok: batch")
        reconnect = await client.post_reconnect(BACKEND)
        assert reconnect.reconnected and reconnect.error is None, reconnect
        print("ok: reconnect", reconnect.name)
        reload = await client.post_reload()
        assert reload.reloaded, reload
        print("ok: reload", reload.backends_added, reload.backends_removed)

        async def first_event():
            async for event in client.stream_events():
                return event

        stream = asyncio.ensure_future(first_event())
        # The subscription opens at some point after this; each reconnect
        # makes events, and the first one after it opens must arrive.
        loop = asyncio.get_running_loop()
        end = loop.time() + DEADLINE
        while not stream.done() and loop.time() < end:
            await client.post_reconnect(BACKEND)
            await asyncio.wait({stream}, timeout=2)
        event = stream.result()
        assert event["stage"] in ("backend_connected", "capability_change"), event
        assert event["id"].startswith("evt-"), event
        print("ok: events/stream", event["stage"])
    finally:
        await client.close()


async def tui():
    manager = ServerManager.from_config()
    manager.add("default", BASE, TOKEN, set_active=True)
    app = ArgusApp(server_url=BASE, token=TOKEN, server_manager=manager)
    async with app.run_test(size=(200, 60)) as pilot:
        loop = asyncio.get_running_loop()
        end = loop.time() + DEADLINE
        while loop.time() < end:
            await pilot.pause(0.2)
            caps, status = app.last_caps, app.last_status
            if caps is not None and status is not None and app.last_sessions is not None:
                break
        else:
            raise AssertionError("the TUI did not load status, capabilities and sessions")
        assert status.service.state == "running", status
        assert TOOL in [t.name for t in caps.tools], caps
        from argus_mcp.tui.widgets.backend_status import BackendStatusWidget

        widget = app.screen.query_one(BackendStatusWidget)
        while loop.time() < end and not widget.backend_details:
            await pilot.pause(0.2)
        phases = {b["name"]: b["phase"] for b in widget.backend_details}
        assert phases.get(BACKEND) == "ready", phases
        assert widget.connected >= 1, widget.connected
        print("ok: tui dashboard", phases)


asyncio.run(client_calls())
asyncio.run(tui())
print("ok: all")
