// A browser with no window, for a client that opens the authorization URL
// through xdg-open (which runs $BROWSER when it finds no desktop): asks
// the authorization server for the URL without following the answer (the
// mock server approves at once with a 302 to the client's callback), then
// follows that redirect so the client's loopback callback gets its code.
// Goes to loopback only. Appends each step to $ARGUS_BROWSER_LOG as a
// JSON line: {"pid", "ppid", "authorize", "query"}, {"status",
// "location", "query"}, {"callback"}. Exits 0 once the callback answered
// 200, and within 30 s whatever happens.
// Usage: node oauth_browser.mjs AUTHORIZATION_URL
import { appendFileSync } from "node:fs";

const LOOPBACK = ["127.0.0.1", "localhost", "[::1]"];

const record = (step) => appendFileSync(process.env.ARGUS_BROWSER_LOG, JSON.stringify(step) + "\n");

function loopback(href) {
  const url = new URL(href);
  if (!LOOPBACK.includes(url.hostname)) throw new Error(`not a loopback URL: ${href}`);
  return url;
}

async function main(href) {
  const authorize = loopback(href);
  record({
    pid: process.pid,
    ppid: process.ppid,
    authorize: authorize.origin + authorize.pathname,
    query: Object.fromEntries(authorize.searchParams),
  });
  const approved = await fetch(authorize, { redirect: "manual", signal: AbortSignal.timeout(20000) });
  const location = approved.headers.get("location");
  const callback = loopback(location ?? "");
  record({ status: approved.status, location: callback.origin + callback.pathname, query: Object.fromEntries(callback.searchParams) });
  const done = await fetch(callback, { signal: AbortSignal.timeout(20000) });
  await done.text();
  record({ callback: done.status });
  return done.status === 200;
}

setTimeout(() => process.exit(2), 30000).unref();
main(process.argv[2]).then(
  (ok) => process.exit(ok ? 0 : 1),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
