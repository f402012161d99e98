"""What an MCP SDK client's tool call came to, for the client scripts of
the tests (policy_client.py, optimizer_client.py, modern_client.py):
{"ok": text} | {"error": {"code", "message"}} | {"is_error": text}.
Works with both lines of the Python `mcp` SDK.
"""


def text_of(result) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


async def outcome(call) -> dict:
    """What one call came to: its text, its JSON-RPC error, or a tool error."""
    try:
        result = await call
    except Exception as e:  # McpError (1.x) or MCPError (2.x): both carry `.error`
        error = getattr(e, "error", None)
        if error is None:
            raise
        return {"error": {"code": error.code, "message": error.message}}
    if getattr(result, "isError", None) or getattr(result, "is_error", None):
        return {"is_error": text_of(result)}
    return {"ok": text_of(result)}
