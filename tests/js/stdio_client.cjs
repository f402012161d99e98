// Runs `argus-mcp stdio -c CONFIG` as a stdio MCP server with the
// TypeScript SDK's stdio client; lists the tools, calls TOOL with
// JSON_ARGS, and prints {"server", "tools", "call"} as JSON.
// Usage: node stdio_client.cjs ARGUS_BINARY CONFIG TOOL JSON_ARGS
const path = require("node:path");
const { createRequire } = require("node:module");
const sdk = createRequire(path.join(process.env.ARGUS_NODE_MODULES, "noop.js"));
const { Client } = sdk("@modelcontextprotocol/sdk/client/index.js");
const { StdioClientTransport } = sdk("@modelcontextprotocol/sdk/client/stdio.js");

async function main() {
  const [binary, config, tool, args] = process.argv.slice(2);
  const client = new Client({ name: "argus-ts-stdio", version: "1.0.0" });
  const transport = new StdioClientTransport({ command: binary, args: ["stdio", "-c", config] });
  await client.connect(transport);
  const tools = (await client.listTools()).tools.map((t) => t.name);
  const result = await client.callTool({ name: tool, arguments: JSON.parse(args || "{}") });
  console.log(JSON.stringify({
    server: client.getServerVersion().name,
    tools,
    call: result.content.map((c) => c.text).join(""),
  }));
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
