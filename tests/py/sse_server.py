"""A Python `mcp` SDK server over legacy SSE (FastMCP), on 127.0.0.1:PORT.
Usage: python sse_server.py PORT. Used by tests/sse_backends.rs."""

import sys

from mcp.server.fastmcp import FastMCP

server = FastMCP("python-sse", host="127.0.0.1", port=int(sys.argv[1]), log_level="WARNING")


@server.tool()
def add(a: int, b: int) -> str:
    """Adds two integers."""
    return f"python says {a + b}"


@server.prompt()
def hello(name: str) -> str:
    """Greets someone."""
    return f"Hello, {name}!"


if __name__ == "__main__":
    server.run(transport="sse")
