#!/usr/bin/env bash
# Builds FerretDB 1.x (a MongoDB wire-protocol server on PostgreSQL or SQLite) from its Go module into .cache/bin,
# for the read-model tests (test/support/ferretdb.ts). Skips when the binary is there. Needs Go.
#
# Not a plain `go install …@v1.24.2`: that binary panics at start ("Invalid build/version/version.txt"), because the
# module archive leaves out the generated version file. So: download the module, add the file, build.
set -euo pipefail
VERSION="${FERRETDB_VERSION:-v1.24.2}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/.cache/bin/ferretdb"
if [ -x "$BIN" ] && [[ "$("$BIN" --version 2>/dev/null)" == *"version: $VERSION"* ]]; then exit 0; fi
if ! command -v go >/dev/null; then
  for candidate in /usr/local/go/bin /usr/lib/go/bin; do [ -x "$candidate/go" ] && PATH="$candidate:$PATH"; done
fi
command -v go >/dev/null || { echo "install-ferretdb: Go is needed to build FerretDB" >&2; exit 1; }
started=$(date +%s)
dir="$(go mod download -json "github.com/FerretDB/FerretDB@$VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
work="$(mktemp -d)"
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$dir/." "$work/"
chmod -R u+w "$work"
echo "$VERSION" > "$work/build/version/version.txt"
mkdir -p "$(dirname "$BIN")"
(cd "$work" && go build -trimpath -o "$BIN" ./cmd/ferretdb)
echo "install-ferretdb: built FerretDB $VERSION into $BIN in $(( $(date +%s) - started )) s" >&2
