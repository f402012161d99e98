// Calls a tool through the gateway with the TypeScript SDK, answering the
// relayed sampling request itself ("sampled by typescript"); the call
// carries a progress token (an onprogress callback). Prints the tool's text
// as JSON. Usage: node sampling_client.cjs URL TOOL JSON_ARGS
// (legacy SSE, or Streamable HTTP when the URL's path ends in /mcp).
const path = require("node:path");
const { createRequire } = require("node:module");
const sdk = createRequire(path.join(process.env.ARGUS_NODE_MODULES, "noop.js"));
const { Client } = sdk("@modelcontextprotocol/sdk/client/index.js");
const { SSEClientTransport } = sdk("@modelcontextprotocol/sdk/client/sse.js");
const { StreamableHTTPClientTransport } = sdk("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { CreateMessageRequestSchema } = sdk("@modelcontextprotocol/sdk/types.js");

async function main() {
  const [url, tool, args] = process.argv.slice(2);
  const client = new Client(
    { name: "argus-ts-sampling", version: "1.0.0" },
    { capabilities: { sampling: {} } },
  );
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({
    role: "assistant",
    model: "test-model",
    content: { type: "text", text: "sampled by typescript" },
  }));
  const target = new URL(url);
  const transport = target.pathname.replace(/\/$/, "").endsWith("/mcp")
    ? new StreamableHTTPClientTransport(target)
    : new SSEClientTransport(target);
  await client.connect(transport);
  const result = await client.callTool(
    { name: tool, arguments: JSON.parse(args || "{}") },
    undefined,
    { onprogress: () => {}, timeout: 50000 },
  );
  console.log(JSON.stringify(result.content.map((c) => c.text)));
  await client.close();
}

const timer = setTimeout(() => {
  console.error("timed out");
  process.exit(2);
}, 60000);
main().then(
  () => { clearTimeout(timer); process.exit(0); },
  (e) => { console.error(e); process.exit(1); },
);
