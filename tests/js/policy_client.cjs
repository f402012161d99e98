// One caller, known by its bearer token, through the gateway with the
// TypeScript SDK: lists the tools, then calls each named tool with the same
// arguments, and prints one JSON line
// {"tools": [sorted names], "calls": {name: {"ok": text} | {"error": {"code", "message"}}
// | {"is_error": text}}}.
// Usage: node policy_client.cjs MODE URL TOKEN ARGS_JSON TOOL...
// MODE: `sse` (@modelcontextprotocol/sdk 1.x, legacy SSE at URL), `http`
// (1.x, Streamable HTTP) or `2026-07-28` (@modelcontextprotocol/client 2.x
// pinned to that version). The SDKs are resolved from $ARGUS_NODE_MODULES
// (tests/run-all.sh installs them). Used by tests/policy_sdk.rs.
const path = require("node:path");
const { createRequire } = require("node:module");
const { outcome } = require("./sdk_outcome.cjs");
const sdk = createRequire(path.join(process.env.ARGUS_NODE_MODULES, "noop.js"));

const [mode, url, token, argsJson, ...tools] = process.argv.slice(2);
const args = JSON.parse(argsJson);
const headers = { Authorization: `Bearer ${token}` };

function connect() {
  const target = new URL(url);
  if (mode === "sse" || mode === "http") {
    const { Client } = sdk("@modelcontextprotocol/sdk/client/index.js");
    const client = new Client({ name: "argus-policy-ts1", version: "1.0.0" });
    let transport;
    if (mode === "sse") {
      const { SSEClientTransport } = sdk("@modelcontextprotocol/sdk/client/sse.js");
      // `requestInit` covers the POSTs; the GET that opens the stream goes
      // through `eventSourceInit.fetch` (older 1.x releases do not
      // add `requestInit`'s headers to it), so that carries the token too.
      const withToken = (u, init) => {
        const merged = new Headers(init && init.headers);
        merged.set("Authorization", headers.Authorization);
        return fetch(u, { ...init, headers: merged });
      };
      transport = new SSEClientTransport(target, {
        requestInit: { headers },
        eventSourceInit: { fetch: withToken },
      });
    } else {
      const { StreamableHTTPClientTransport } = sdk("@modelcontextprotocol/sdk/client/streamableHttp.js");
      transport = new StreamableHTTPClientTransport(target, { requestInit: { headers } });
    }
    return { client, transport };
  }
  const { Client, StreamableHTTPClientTransport } = sdk("@modelcontextprotocol/client");
  const client = new Client(
    { name: "argus-policy-ts2", version: "1.0.0" },
    { versionNegotiation: { mode: { pin: mode } } },
  );
  return { client, transport: new StreamableHTTPClientTransport(target, { requestInit: { headers } }) };
}

async function main() {
  const { client, transport } = connect();
  await client.connect(transport);
  const out = { tools: (await client.listTools()).tools.map((t) => t.name).sort(), calls: {} };
  for (const name of tools) {
    out.calls[name] = await outcome(client.callTool({ name, arguments: args }));
  }
  console.log(JSON.stringify(out));
  await client.close();
}

const timer = setTimeout(() => {
  console.error("timed out");
  process.exit(2);
}, 90000);
main().then(
  () => { clearTimeout(timer); process.exit(0); },
  (e) => { console.error(e && e.stack ? e.stack : e); process.exit(1); },
);
