// The TypeScript SDK v2 (`@modelcontextprotocol/client`, the 2026-07-28
// line) through the gateway, in one version-negotiation mode, over
// Streamable HTTP: lists the tools, calls one of each backend, an
// elicitation and samplings that cross the gateway's bridge for a modern
// connection. Prints one JSON line.
// Usage: node modern_client.cjs URL MODE   (MODE: auto, 2026-07-28, legacy)
// The SDK is resolved from $ARGUS_NODE_MODULES (tests/run-all.sh installs it).
const path = require("node:path");
const { createRequire } = require("node:module");
const sdk = createRequire(path.join(process.env.ARGUS_NODE_MODULES, "noop.js"));
const { Client, StreamableHTTPClientTransport } = sdk("@modelcontextprotocol/client");

async function main() {
  const [url, mode] = process.argv.slice(2);
  const negotiation = mode === "legacy" ? { mode: "legacy" } : mode === "auto" ? { mode: "auto" } : { mode: { pin: mode } };
  const client = new Client(
    { name: "argus-ts2-test", version: "1.0.0" },
    { capabilities: { elicitation: {}, sampling: {} }, versionNegotiation: negotiation },
  );
  client.setRequestHandler("elicitation/create", async () => ({
    action: "accept",
    content: { response: "from typescript" },
  }));
  client.setRequestHandler("sampling/createMessage", async () => ({
    model: "test-model",
    role: "assistant",
    content: { type: "text", text: "sampled in typescript" },
  }));
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  const tools = (await client.listTools()).tools.map((t) => t.name).sort();
  const out = { protocol: client.getNegotiatedProtocolVersion() ?? null, era: client.getProtocolEra() ?? null, tools, calls: {} };
  for (const [name, args] of [
    ["st_test_simple_text", {}],
    ["sse_echo", { text: "hi" }],
    ["http_echo", { text: "hi" }],
    ["st_test_elicitation", { message: "your answer?" }],
    ["sse_sample", { tag: "q" }],
    ["http_sample", { tag: "r" }],
  ]) {
    const result = await client.callTool({ name, arguments: args });
    const text = result.content.map((c) => c.text || "").join("");
    out.calls[name] = { text, error: Boolean(result.isError) };
  }
  console.log(JSON.stringify(out));
  await client.close();
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
