#!/usr/bin/env bash
# Installs the integration tools from npm into a cache directory, once:
#   deploy/tools/install-buf.sh <cache-dir>
# puts @bufbuild/buf (buf lint / buf breaking / buf build, a prebuilt binary for this
# platform) and @asyncapi/specs (the official AsyncAPI JSON schemas, read by the drift and
# validation test) under <cache-dir>/node_modules with `npm install --prefix`. Versions are
# exact; a run that finds both at these versions installs nothing and only prints them.
# Needs `node` and `npm` on PATH (and the npm registry on the first run only).
set -euo pipefail

BUF_VERSION="${BUF_VERSION:-1.75.0}"
ASYNCAPI_SPECS_VERSION="${ASYNCAPI_SPECS_VERSION:-6.11.1}"

if [ "$#" -ne 1 ]; then
  echo "usage: $0 <cache-dir>   (installs @bufbuild/buf@${BUF_VERSION} and" >&2
  echo "       @asyncapi/specs@${ASYNCAPI_SPECS_VERSION} into <cache-dir>/node_modules)" >&2
  exit 2
fi

cache="$1"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"

installed_version() {
  # The version in <cache>/node_modules/<package>/package.json, or nothing.
  local manifest="$cache/node_modules/$1/package.json"
  [ -f "$manifest" ] || return 0
  node -e 'process.stdout.write(require(process.argv[1]).version)' "$manifest"
}

if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm is not on PATH; buf and the AsyncAPI schemas come from npm." >&2
  echo "       install Node.js 18+ with npm (apt-get install -y nodejs npm)" >&2
  exit 1
fi

wanted=()
[ "$(installed_version @bufbuild/buf)" = "$BUF_VERSION" ] || wanted+=("@bufbuild/buf@${BUF_VERSION}")
[ "$(installed_version @asyncapi/specs)" = "$ASYNCAPI_SPECS_VERSION" ] \
  || wanted+=("@asyncapi/specs@${ASYNCAPI_SPECS_VERSION}")

if [ "${#wanted[@]}" -gt 0 ]; then
  echo "installing ${wanted[*]} into $cache/node_modules" >&2
  # --save-exact keeps <cache>/package.json pinned; no audit/fund chatter, no lifecycle
  # scripts beyond buf's own (it picks its platform binary through optionalDependencies).
  npm install --prefix "$cache" --save-exact --no-audit --no-fund --loglevel=error "${wanted[@]}"
fi

"$cache/node_modules/.bin/buf" --version | sed 's/^/buf /'
echo "@asyncapi/specs $(installed_version @asyncapi/specs)"
