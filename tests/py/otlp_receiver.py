"""An OTLP/HTTP trace collector on loopback, for the trace export tests: it
checks what the gateway exports as strictly as the protocol allows and prints
what it received.

Usage: otlp_receiver.py [--status CODE] [--delay SECONDS]

Listens on 127.0.0.1, port 0, and prints {"port": N} once listening. Accepts
POST /v1/traces with Content-Type application/json (parameter charset=utf-8
allowed; Content-Encoding gzip allowed) holding an ExportTraceServiceRequest
in the OTLP JSON mapping: traceId and spanId (of spans and of links) are
lowercase hex of 32 and 16 digits, not all zero; parentSpanId is 16 of them
or empty or absent; kind and status.code are integers of their enums; field
names are the lowerCamelCase JSON names (trace_id is refused). The rest is
parsed by protobuf's json_format, unknown fields and duplicate keys refused.
A request that is accepted gets 200 with {} and prints one line per span:
  {"span": {"traceId", "spanId", "parentSpanId" ("" when none), "name",
            "kind", "flags" (null when absent), "startTimeUnixNano",
            "endTimeUnixNano", "status": {"code", "message"},
            "attributes": {key: value}, "links": [{"traceId", "spanId"}],
            "resource": {key: value}, "scope": scope name}}
Attribute values come out as JSON values: string, int, bool, float; arrays
as lists, key-value lists as objects, bytes as base64, an empty value as
null. A request that is refused prints {"error": "..."} and gets 400 (415 for
another content type or encoding, 404 for another path).

--status CODE answers every POST with CODE and {} instead, after reading the
body, without checking or printing it (a failing collector). --delay SECONDS
waits that long before answering each POST (a slow collector). GET /stats
answers {"requests": N}, the number of POSTs received so far, whatever their
fate. Exits when stdin closes.
"""

import argparse
import base64
import gzip
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

MAX_BODY = 16 * 1024 * 1024
TRACE_ID = re.compile(r"[0-9a-f]{32}")
SPAN_ID = re.compile(r"[0-9a-f]{16}")
SPAN_KINDS = set(Span.SpanKind.values())
STATUS_CODES = set(Status.StatusCode.values())

out_lock = threading.Lock()
count_lock = threading.Lock()
requests = 0


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def emit(obj: dict) -> None:
    line = json.dumps(obj)
    with out_lock:
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            pass


def no_duplicates(pairs: list) -> dict:
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise Refused(400, f"duplicate key {key!r}")
        obj[key] = value
    return obj


def items(obj: dict, key: str, where: str) -> list:
    """The list at obj[key] (absent: none), each item an object."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Refused(400, f"{where}.{key} is not an array")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise Refused(400, f"{where}.{key}[{i}] is not an object")
    return value


def hex_id(obj: dict, key: str, pattern: re.Pattern, where: str, optional: bool = False) -> None:
    """Checks the hex id obj[key] and turns it into the base64 json_format wants."""
    if key not in obj and optional:
        return
    if key not in obj:
        raise Refused(400, f"{where}.{key} is missing")
    value = obj[key]
    if not isinstance(value, str):
        raise Refused(400, f"{where}.{key} is {json.dumps(value)}, not a hex string")
    if value == "" and optional:
        return
    if not pattern.fullmatch(value):
        raise Refused(400, f"{where}.{key} {value!r} is not {pattern.pattern}")
    if set(value) == {"0"}:
        raise Refused(400, f"{where}.{key} is all zeros (invalid)")
    obj[key] = base64.b64encode(bytes.fromhex(value)).decode()


def enum_int(obj: dict, key: str, values: set, where: str) -> None:
    if key not in obj:
        return
    value = obj[key]
    if type(value) is not int:
        raise Refused(400, f"{where}.{key} is {json.dumps(value)}, not an integer")
    if value not in values:
        raise Refused(400, f"{where}.{key} {value} is not a value of its enum")


def check_names(obj: object, descriptor, where: str) -> None:
    """Refuses the proto field names (trace_id) json_format would also take:
    OTLP JSON uses the lowerCamelCase JSON names (traceId) only."""
    if not isinstance(obj, dict):
        return
    fields = {f.json_name: f for f in descriptor.fields}
    proto_names = {f.name for f in descriptor.fields if f.name != f.json_name}
    for key, value in obj.items():
        at = f"{where}.{key}" if where else key
        if key in proto_names:
            raise Refused(400, f"{at}: a proto field name, not the JSON name")
        field = fields.get(key)
        if field is None or field.message_type is None:
            continue
        if isinstance(value, list):
            for i, item in enumerate(value):
                check_names(item, field.message_type, f"{at}[{i}]")
        else:
            check_names(value, field.message_type, at)


def to_protobuf_json(request: object) -> None:
    """Rewrites, in place, the OTLP JSON-only parts of an export request into
    protobuf's JSON mapping, checking them on the way."""
    if not isinstance(request, dict):
        raise Refused(400, "the body is not a JSON object")
    for r, rs in enumerate(items(request, "resourceSpans", "request")):
        for s, ss in enumerate(items(rs, "scopeSpans", f"resourceSpans[{r}]")):
            for p, span in enumerate(items(ss, "spans", f"resourceSpans[{r}].scopeSpans[{s}]")):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{p}]"
                hex_id(span, "traceId", TRACE_ID, where)
                hex_id(span, "spanId", SPAN_ID, where)
                hex_id(span, "parentSpanId", SPAN_ID, where, optional=True)
                enum_int(span, "kind", SPAN_KINDS, where)
                status = span.get("status")
                if isinstance(status, dict):
                    enum_int(status, "code", STATUS_CODES, where + ".status")
                for k, link in enumerate(items(span, "links", where)):
                    hex_id(link, "traceId", TRACE_ID, f"{where}.links[{k}]")
                    hex_id(link, "spanId", SPAN_ID, f"{where}.links[{k}]")


def any_value(value) -> object:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "int_value":
        return int(value.int_value)
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)  # string_value, bool_value, double_value


def attributes(pairs) -> dict:
    return {kv.key: any_value(kv.value) for kv in pairs}


def parse(body: bytes) -> list:
    """The span lines of an export request, or Refused."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Refused(400, f"the body is not UTF-8: {e}")
    try:
        raw = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as e:
        raise Refused(400, f"the body is not JSON: {e}")
    check_names(raw, ExportTraceServiceRequest.DESCRIPTOR, "")
    to_protobuf_json(raw)
    # Whether each span has flags, which proto3 cannot tell once parsed.
    has_flags = [
        span.get("flags") is not None
        for rs in raw.get("resourceSpans") or []
        for ss in rs.get("scopeSpans") or []
        for span in ss.get("spans") or []
    ]
    request = ExportTraceServiceRequest()
    try:
        json_format.Parse(json.dumps(raw), request, ignore_unknown_fields=False)
    except json_format.ParseError as e:
        raise Refused(400, f"not an ExportTraceServiceRequest: {e}")
    lines = []
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                lines.append({"span": {
                    "traceId": span.trace_id.hex(),
                    "spanId": span.span_id.hex(),
                    "parentSpanId": span.parent_span_id.hex(),
                    "name": span.name,
                    "kind": int(span.kind),
                    "flags": int(span.flags) if has_flags[len(lines)] else None,
                    "startTimeUnixNano": int(span.start_time_unix_nano),
                    "endTimeUnixNano": int(span.end_time_unix_nano),
                    "status": {"code": int(span.status.code), "message": span.status.message},
                    "attributes": attributes(span.attributes),
                    "links": [{"traceId": k.trace_id.hex(), "spanId": k.span_id.hex()} for k in span.links],
                    "resource": resource,
                    "scope": ss.scope.name,
                }})
    return lines


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    forced_status = None
    delay = 0.0

    def log_message(self, format, *args):
        pass

    def answer(self, status: int, body: dict) -> None:
        if self.command == "POST" and self.delay:
            time.sleep(self.delay)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
                if len(body) > MAX_BODY:
                    raise Refused(413, "the body is too large")
        length = self.headers.get("Content-Length")
        if length is None:
            raise Refused(411, "no Content-Length")
        if not length.isdigit() or int(length) > MAX_BODY:
            raise Refused(413, f"bad Content-Length {length!r}")
        return self.rfile.read(int(length))

    def do_GET(self):
        if self.path == "/stats":
            with count_lock:
                n = requests
            self.answer(200, {"requests": n})
        else:
            self.answer(404, {})

    def do_POST(self):
        global requests
        with count_lock:
            requests += 1
        try:
            body = self.read_body()
        except (Refused, ValueError) as e:
            self.close_connection = True
            status = e.status if isinstance(e, Refused) else 400
            emit({"error": str(e)})
            self.answer(status, {})
            return
        if self.forced_status is not None:
            self.answer(self.forced_status, {})
            return
        try:
            if self.path != "/v1/traces":
                raise Refused(404, f"POST to {self.path}, not /v1/traces")
            media, _, params = self.headers.get("Content-Type", "").partition(";")
            params = params.strip().lower().replace(" ", "")
            if media.strip().lower() != "application/json" or params not in ("", "charset=utf-8"):
                raise Refused(415, f"Content-Type {self.headers.get('Content-Type')!r}, not application/json")
            encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding == "gzip":
                try:
                    body = gzip.decompress(body)
                except (OSError, EOFError) as e:
                    raise Refused(400, f"the body is not gzip: {e}")
            elif encoding != "identity":
                raise Refused(415, f"Content-Encoding {encoding!r}")
            lines = parse(body)
        except Refused as e:
            emit({"error": str(e)})
            self.answer(e.status, {})
            return
        except Exception as e:  # a bug here, not in the request: say so
            emit({"error": f"receiver failure: {e!r}"})
            self.answer(500, {})
            return
        for line in lines:
            emit(line)
        self.answer(200, {})


def watch_stdin() -> None:
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description="An OTLP/HTTP JSON trace receiver on loopback.")
    parser.add_argument("--status", type=int, help="answer every POST with this status instead")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before answering each POST")
    args = parser.parse_args()
    Handler.forced_status = args.status
    Handler.delay = args.delay
    threading.Thread(target=watch_stdin, daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    emit({"port": server.server_address[1]})
    server.serve_forever()


if __name__ == "__main__":
    main()
