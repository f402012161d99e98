// What an MCP SDK client's tool call came to, for the client scripts of
// the tests (policy_client.cjs, optimizer_client.cjs): {"ok": text} |
// {"error": {"code", "message"}} | {"is_error": text}. Works with both
// lines of the TypeScript SDK.

const textOf = (result) => (result.content || []).map((c) => c.text || "").join("");

// What one call (a promise of its result) came to.
async function outcome(call) {
  let result;
  try {
    result = await call;
  } catch (e) {
    if (typeof e.code !== "number") throw e;
    return { error: { code: e.code, message: e.message } };
  }
  return result.isError ? { is_error: textOf(result) } : { ok: textOf(result) };
}

module.exports = { outcome, textOf };
