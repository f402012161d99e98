"""A traced MCP client for the trace export tests: makes one tools/call
inside a CLIENT span of the OpenTelemetry SDK and propagates its W3C trace
context to the gateway, so the test can see the gateway's spans join the
client's trace.

Usage: otel_client.py URL TOOL ARGS_JSON MODE
URL is a Streamable HTTP MCP endpoint (http://127.0.0.1:PORT/mcp), ARGS_JSON
a JSON object, MODE `header` or `meta`. Inside a span `client call` (kind
CLIENT, in a TracerProvider exporting to memory), it speaks MCP with plain
HTTP: initialize (protocol 2025-06-18), notifications/initialized, then
tools/call TOOL ARGS. Answers may be application/json or an SSE stream. The
trace context (traceparent, and tracestate when there is one) goes only with
the tools/call: in its HTTP headers in mode `header`, in its params._meta in
mode `meta` (and then in no header). Prints one JSON line:
  {"traceId": 32 hex, "spanId": 16 hex, "result": the tools/call result, or
   its JSON-RPC error object}
with the ids of the client span. Exits 1 with a message on stderr on any
other failure (HTTP errors, timeouts of 10 s, a malformed answer).
"""

import json
import sys
import time
import urllib.error
import urllib.request

from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TIMEOUT = 10
PROTOCOL_VERSION = "2025-06-18"

# No proxies from the environment: the gateway is on loopback.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Failure(Exception):
    pass


class Session:
    def __init__(self, url: str):
        self.url = url
        self.session_id = None
        self.protocol_version = None
        self.next_id = 1

    def post(self, message: dict, extra_headers: dict | None = None):
        """POSTs one JSON-RPC message; returns the HTTP response, open."""
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        if self.session_id is not None:
            headers["Mcp-Session-Id"] = self.session_id
        if self.protocol_version is not None:
            headers["MCP-Protocol-Version"] = self.protocol_version
        headers.update(extra_headers or {})
        request = urllib.request.Request(self.url, data=json.dumps(message).encode(), headers=headers, method="POST")
        try:
            return opener.open(request, timeout=TIMEOUT)
        except urllib.error.HTTPError as e:
            body = e.read(2000).decode(errors="replace")
            raise Failure(f"{message.get('method')}: HTTP {e.code}: {body}") from None
        except (urllib.error.URLError, OSError) as e:
            raise Failure(f"{message.get('method')}: {e}") from None

    def request(self, method: str, params: dict, extra_headers: dict | None = None):
        """Sends a request; returns (its JSON-RPC response, the HTTP response headers)."""
        id_ = self.next_id
        self.next_id += 1
        deadline = time.monotonic() + TIMEOUT
        with self.post({"jsonrpc": "2.0", "id": id_, "method": method, "params": params}, extra_headers) as response:
            kind = response.headers.get_content_type()
            try:
                if kind == "application/json":
                    answer = json.loads(response.read())
                    messages = answer if isinstance(answer, list) else [answer]
                    found = next((m for m in messages if isinstance(m, dict) and m.get("id") == id_), None)
                elif kind == "text/event-stream":
                    found = read_sse(response, id_, deadline)
                else:
                    raise Failure(f"{method}: answered with Content-Type {response.headers.get('Content-Type')!r}")
            except (OSError, ValueError) as e:
                raise Failure(f"{method}: reading the answer: {e}") from None
            if found is None:
                raise Failure(f"{method}: no response with id {id_} in the answer")
            if "result" not in found and "error" not in found:
                raise Failure(f"{method}: neither result nor error: {json.dumps(found)}")
            return found, response.headers

    def notify(self, method: str) -> None:
        with self.post({"jsonrpc": "2.0", "method": method}) as response:
            if response.status not in (200, 202, 204):
                raise Failure(f"{method}: HTTP {response.status}")
            response.read()


def read_sse(response, id_: int, deadline: float) -> dict | None:
    """The JSON-RPC message with id id_ of an SSE stream, skipping the others
    (notifications, requests of the server)."""
    data: list[str] = []
    while True:
        if time.monotonic() > deadline:
            raise Failure(f"no response with id {id_} within {TIMEOUT} s")
        raw = response.readline()
        if not raw:
            return None
        line = raw.decode("utf-8").rstrip("\r\n")
        if line == "":
            if data:
                message = json.loads("\n".join(data))
                data = []
                if isinstance(message, dict) and message.get("id") == id_ and "method" not in message:
                    return message
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)


def main() -> None:
    if len(sys.argv) != 5 or sys.argv[4] not in ("header", "meta"):
        raise Failure("usage: otel_client.py URL TOOL ARGS_JSON header|meta")
    url, tool, args_json, mode = sys.argv[1:]
    try:
        arguments = json.loads(args_json)
    except ValueError as e:
        raise Failure(f"ARGS_JSON is not JSON: {e}") from None
    if not isinstance(arguments, dict):
        raise Failure("ARGS_JSON is not a JSON object")

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    propagate.set_global_textmap(TraceContextTextMapPropagator())
    tracer = provider.get_tracer("otel-client")

    session = Session(url)
    with tracer.start_as_current_span("client call", kind=trace.SpanKind.CLIENT) as span:
        init, headers = session.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "otel-client", "version": "1"},
            },
        )
        if "error" in init:
            raise Failure(f"initialize: {json.dumps(init['error'])}")
        session.session_id = headers.get("Mcp-Session-Id")
        session.protocol_version = init["result"].get("protocolVersion", PROTOCOL_VERSION)
        session.notify("notifications/initialized")

        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        if "traceparent" not in carrier:
            raise Failure(f"the propagator injected no traceparent: {carrier}")
        params = {"name": tool, "arguments": arguments}
        if mode == "header":
            answer, _ = session.request("tools/call", params, carrier)
        else:
            params["_meta"] = {k: carrier[k] for k in ("traceparent", "tracestate") if k in carrier}
            answer, _ = session.request("tools/call", params)
        context = span.get_span_context()

    print(json.dumps({
        "traceId": format(context.trace_id, "032x"),
        "spanId": format(context.span_id, "016x"),
        "result": answer["result"] if "result" in answer else answer["error"],
    }), flush=True)


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"otel_client: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:
        print(f"otel_client: {e!r}", file=sys.stderr)
        sys.exit(1)
