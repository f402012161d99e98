// Connects to an MCP server with the TypeScript SDK (legacy SSE, or
// Streamable HTTP when the URL's path ends in /mcp), lists everything,
// optionally calls a tool, and prints one JSON line.
// Usage: node mcp_client.cjs URL [TOOL JSON_ARGS]...
// The SDK is resolved from $ARGUS_NODE_MODULES (tests/run-all.sh installs it).
const path = require("node:path");
const { createRequire } = require("node:module");
const sdk = createRequire(path.join(process.env.ARGUS_NODE_MODULES, "noop.js"));
const { Client } = sdk("@modelcontextprotocol/sdk/client/index.js");
const { SSEClientTransport } = sdk("@modelcontextprotocol/sdk/client/sse.js");
const { StreamableHTTPClientTransport } = sdk("@modelcontextprotocol/sdk/client/streamableHttp.js");

async function main() {
  const [url, ...rest] = process.argv.slice(2);
  const client = new Client({ name: "argus-ts-test", version: "1.0.0" });
  const target = new URL(url);
  const transport = target.pathname.replace(/\/$/, "").endsWith("/mcp")
    ? new StreamableHTTPClientTransport(target)
    : new SSEClientTransport(target);
  await client.connect(transport);
  const out = {
    server: client.getServerVersion().name,
    tools: (await client.listTools()).tools.map((t) => t.name),
  };
  const caps = client.getServerCapabilities();
  if (caps.resources) {
    out.resources = (await client.listResources()).resources.map((r) => r.uri);
    out.templates = (await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
  }
  if (caps.prompts) {
    out.prompts = (await client.listPrompts()).prompts.map((p) => p.name);
  }
  out.calls = [];
  for (let i = 0; i < rest.length; i += 2) {
    const result = await client.callTool({ name: rest[i], arguments: JSON.parse(rest[i + 1] || "{}") });
    out.call = result.content.map((c) => c.text).join("");
    out.calls.push(out.call);
  }
  console.log(JSON.stringify(out));
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
