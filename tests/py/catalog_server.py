"""A stdio MCP server (newline-delimited JSON-RPC) that lists the tools of a
JSON file, an array of tool definitions served as they are (the catalog
of `bm25_cases.py generate`). Every call answers "<name>:<arguments as
JSON>". Standard library only.

Usage: catalog_server.py TOOLS_JSON_FILE
Used by tests/optimizer.rs.
"""

import json
import sys

with open(sys.argv[1], encoding="utf-8") as f:
    TOOLS = json.load(f)


def answer(request):
    method, params = request.get("method"), request.get("params") or {}
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "catalog", "version": "1"},
        }
    if method == "ping":
        return {}
    if method == "tools/list":
        return {"tools": TOOLS}
    if method == "tools/call":
        arguments = json.dumps(params.get("arguments") or {}, sort_keys=True)
        text = f"{params.get('name')}:{arguments}"
        return {"content": [{"type": "text", "text": text}]}
    return None


def main():
    sys.stdin.reconfigure(encoding="utf-8")
    sys.stdout.reconfigure(encoding="utf-8")
    for line in sys.stdin:
        try:
            request = json.loads(line)
        except ValueError:
            continue
        if not isinstance(request, dict) or "id" not in request or "method" not in request:
            continue  # notifications and answers
        result = answer(request)
        if result is None:
            reply = {"error": {"code": -32601, "message": f"unknown method {request['method']}"}}
        else:
            reply = {"result": result}
        reply.update({"jsonrpc": "2.0", "id": request["id"]})
        sys.stdout.write(json.dumps(reply, ensure_ascii=False) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
