#!/usr/bin/env bash
# `npm run test:coverage`: line and branch coverage of src/, counting both the code the tests run in process (vitest's
# V8 provider) and the code run by the service and CLI processes the end-to-end tests start (raw V8 coverage written by
# each child, NODE_V8_COVERAGE, turned into the same format by c8); scripts/coverage-merge.js adds the two up.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf coverage
mkdir -p coverage/children-raw
export CHILD_COVERAGE_DIR="$PWD/coverage/children-raw"
# The gate (issue 12: lines >= 90 %): coverage-merge.js exits 1 below it. COVERAGE_MIN_LINES=0 for a subset of files.
export COVERAGE_MIN_LINES="${COVERAGE_MIN_LINES:-90}"
status=0
npx vitest run --coverage "$@" || status=$?
npx c8 report --temp-directory coverage/children-raw --reports-dir coverage/children --reporter json \
  --include 'src/**/*.ts' --exclude 'src/**/*.test.ts' --all=false >/dev/null
node scripts/coverage-merge.js coverage/in-process/coverage-final.json coverage/children/coverage-final.json || status=1
exit "$status"
