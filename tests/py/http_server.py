"""A Python `mcp` SDK server over Streamable HTTP (FastMCP), on
127.0.0.1:PORT/mcp. Usage: python http_server.py PORT. Used by tests."""

import sys

from mcp.server.fastmcp import FastMCP

server = FastMCP("python-http", host="127.0.0.1", port=int(sys.argv[1]), log_level="WARNING")


@server.tool()
def multiply(a: int, b: int) -> str:
    """Multiplies two integers."""
    return f"python multiplies to {a * b}"


if __name__ == "__main__":
    server.run(transport="streamable-http")
