"""The Python MCP SDK's OAuth client against the gateway, headless: from
the gateway's 401 it reads the protected-resource metadata, then the
authorization server's metadata, gets a code with PKCE (the mock server
approves without a login page: its 302 is read, not followed), trades it
for a token bound to the resource, and calls a tool with it.

Usage: oauth_client.py MCP_URL
Prints one JSON line: the tools listed and the echo's text.
"""

import asyncio
import json
import sys
from urllib.parse import parse_qs, urlparse

import httpx
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamablehttp_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

REDIRECT = "http://127.0.0.1:1/callback"


class Memory(TokenStorage):
    """Holds a client registered beforehand (the mock server has no
    registration endpoint), and the tokens the flow gets."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client = OAuthClientInformationFull(
            client_id="argus-test",
            redirect_uris=[REDIRECT],
            token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        )

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


async def main(url: str) -> None:
    got: dict[str, str | None] = {}

    async def redirect(authorization_url: str) -> None:
        async with httpx.AsyncClient() as http:
            r = await http.get(authorization_url, follow_redirects=False)
        query = parse_qs(urlparse(r.headers["location"]).query)
        got["code"] = query["code"][0]
        got["state"] = query.get("state", [None])[0]

    async def callback() -> tuple[str, str | None]:
        return got["code"] or "", got["state"]

    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            redirect_uris=[REDIRECT],
            client_name="argus-test",
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=Memory(),
        redirect_handler=redirect,
        callback_handler=callback,
        timeout=60,
    )
    async with streamablehttp_client(url, auth=provider) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            result = await session.call_tool("echo", {"text": "through oauth"})
            print(
                json.dumps(
                    {
                        "tools": [t.name for t in tools.tools],
                        "text": result.content[0].text,
                        "code_used": "code" in got,
                    }
                )
            )


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), 90))
