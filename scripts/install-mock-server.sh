#!/usr/bin/env sh
# Install the spec-driven mock server used by the spec-conformance tests into .tools/
# (gitignored). Called by .ci/run; safe to run again (a matching install is kept).
set -eu

PRISM_VERSION="5.16.0"
ROOT="$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)"
TOOLS="$ROOT/.tools/prism"
BIN="$TOOLS/node_modules/.bin/prism"

if [ -x "$BIN" ] && [ "$("$BIN" --version 2>/dev/null)" = "$PRISM_VERSION" ]; then
    echo "prism $PRISM_VERSION already installed in $TOOLS"
    exit 0
fi

command -v npm >/dev/null 2>&1 || { echo "npm is required to install prism" >&2; exit 1; }
mkdir -p "$TOOLS"
# A registry hiccup should not fail the whole run: try a few times.
attempt=1
until npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error \
    "@stoplight/prism-cli@$PRISM_VERSION"; do
    if [ "$attempt" -ge 3 ]; then
        echo "could not install prism after $attempt attempts" >&2
        exit 1
    fi
    attempt=$((attempt + 1))
    sleep 5
done
"$BIN" --version
