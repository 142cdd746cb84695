#!/usr/bin/env bash
# Installs schemathesis (PyPI), the HTTP fuzzer of the fuzz run (chaos/fuzz.ts), into .cache/schemathesis, a virtualenv
# of its own. Idempotent: does nothing when that version is there. Prints the path of its `st` executable.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version=4.32.5
venv="$root/.cache/schemathesis"
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$version"; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$version" >&2
fi
echo "$venv/bin/st"
