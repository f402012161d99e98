"""A Python `mcp` SDK server (FastMCP) served over HTTPS by uvicorn, on
127.0.0.1:PORT. Used by tests.

Usage: python tls_server.py PORT TRANSPORT CERT KEY [CLIENT_CA]
TRANSPORT is streamable-http (/mcp) or sse (/sse). With CLIENT_CA the
server requires a client certificate issued by it (mTLS)."""

import ssl
import sys

import uvicorn
from mcp.server.fastmcp import FastMCP

port, transport, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
client_ca = sys.argv[5] if len(sys.argv) > 5 else None

server = FastMCP("python-tls", log_level="WARNING")


@server.tool()
def multiply(a: int, b: int) -> str:
    """Multiplies two integers."""
    return f"tls multiplies to {a * b}"


app = server.streamable_http_app() if transport == "streamable-http" else server.sse_app()
options = {"ssl_certfile": cert, "ssl_keyfile": key}
if client_ca:
    options.update(ssl_ca_certs=client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", **options)
