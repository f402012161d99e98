// The optimizer's meta-tools through the gateway with the TypeScript SDK:
// lists the tools, searches with `find_tool`, calls a tool through
// `call_tool` and directly, calls it through `call_tool` with bad
// arguments, and calls a tool that reports progress through `call_tool`.
// Prints one JSON line {"tools": [names, in order], "found":
// structuredContent, "found_text": the text content parsed,
// "via_call_tool", "direct", "bad", "progress": outcome, "progress_seen":
// [progress values]}, where an outcome is {"ok": text} | {"error":
// {"code", "message"}} | {"is_error": text}.
// Usage: node optimizer_client.cjs MODE URL PLAN_JSON
// MODE: `sse` (@modelcontextprotocol/sdk 1.x, legacy SSE at URL), `http`
// (1.x, Streamable HTTP) or `2026-07-28` (@modelcontextprotocol/client 2.x
// pinned to that version). PLAN_JSON: {"query", "limit", "tool",
// "arguments", "bad_arguments", "progress_tool"}. The SDKs are resolved
// from $ARGUS_NODE_MODULES. Used by tests/optimizer.rs.
const path = require("node:path");
const { createRequire } = require("node:module");
const { outcome, textOf } = require("./sdk_outcome.cjs");
const sdk = createRequire(path.join(process.env.ARGUS_NODE_MODULES, "noop.js"));

const [mode, url, planJson] = process.argv.slice(2);
const plan = JSON.parse(planJson);

function connect() {
  const target = new URL(url);
  if (mode === "sse" || mode === "http") {
    const { Client } = sdk("@modelcontextprotocol/sdk/client/index.js");
    const client = new Client({ name: "argus-optimizer-ts1", version: "1.0.0" });
    let transport;
    if (mode === "sse") {
      const { SSEClientTransport } = sdk("@modelcontextprotocol/sdk/client/sse.js");
      transport = new SSEClientTransport(target);
    } else {
      const { StreamableHTTPClientTransport } = sdk("@modelcontextprotocol/sdk/client/streamableHttp.js");
      transport = new StreamableHTTPClientTransport(target);
    }
    return { client, transport };
  }
  const { Client, StreamableHTTPClientTransport } = sdk("@modelcontextprotocol/client");
  const client = new Client(
    { name: "argus-optimizer-ts2", version: "1.0.0" },
    { versionNegotiation: { mode: { pin: mode } } },
  );
  return { client, transport: new StreamableHTTPClientTransport(target) };
}

async function main() {
  const { client, transport } = connect();
  await client.connect(transport);
  const out = { tools: (await client.listTools()).tools.map((t) => t.name) };
  const found = await client.callTool({
    name: "find_tool",
    arguments: { query: plan.query, limit: plan.limit },
  });
  out.found = found.structuredContent;
  out.found_text = JSON.parse(textOf(found));
  const callTool = (name, args) => client.callTool({ name, arguments: args });
  out.via_call_tool = await outcome(callTool("call_tool", { name: plan.tool, arguments: plan.arguments }));
  out.direct = await outcome(callTool(plan.tool, plan.arguments));
  out.bad = await outcome(callTool("call_tool", { name: plan.tool, arguments: plan.bad_arguments }));
  const seen = [];
  const onprogress = (p) => seen.push(p.progress);
  // 1.x: callTool(params, resultSchema, options); 2.x: callTool(params, options).
  const progressCall = mode === "sse" || mode === "http"
    ? client.callTool({ name: "call_tool", arguments: { name: plan.progress_tool, arguments: {} } }, undefined, { onprogress })
    : client.callTool({ name: "call_tool", arguments: { name: plan.progress_tool, arguments: {} } }, { onprogress });
  out.progress = await outcome(progressCall);
  out.progress_seen = seen;
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
