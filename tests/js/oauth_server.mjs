// A real authorization server on loopback for the identity tests:
// oauth2-mock-server (npm, pinned by tests/run-all.sh), which makes its own
// keys, signs JWTs with them and serves its JWKS and OIDC discovery
// document. Keys: RS256 and ES256 (tokens are signed with each in turn).
// A token request's `aud` (or `resource`) becomes the token's `aud`, and
// its `roles` (comma-separated) the token's `roles`.
// Prints {"issuer", "port"} as one line once it listens; serves until killed.
// Usage: node oauth_server.mjs   (the package is found in $ARGUS_NODE_MODULES)
import path from "node:path";
import { pathToFileURL } from "node:url";

const entry = path.join(process.env.ARGUS_NODE_MODULES, "oauth2-mock-server/dist/index.mjs");
const { OAuth2Server } = await import(pathToFileURL(entry).href);

const server = new OAuth2Server();
await server.issuer.keys.generate("RS256");
await server.issuer.keys.generate("ES256");
server.service.on("beforeTokenSigning", (token, req) => {
  const aud = req.body?.aud ?? req.body?.resource;
  if (aud) token.payload.aud = aud;
  if (req.body?.roles) token.payload.roles = String(req.body.roles).split(",");
  token.payload.sub = req.body?.sub ?? "robot";
});
await server.start(0, "127.0.0.1");
const port = server.address().port;
console.log(JSON.stringify({ issuer: server.issuer.url, port }));
