#!/bin/sh
# The seed README's "Publish a test event" (knapscen's publish-customer-registered.sh), as a thin wrapper over
#   customer-service publish customer-registered [--count N] [--file F] [--to nats|http] [--url U] [--subject S] [--core]
# One generated disco.knapscen.customer.registered CloudEvent (structured mode) to JetStream subject
# customer-registered, unless told otherwise; arguments are passed on. NATS: NATS_URL or NATS_SERVER (with NATS_USER,
# NATS_PASSWORD), default nats://127.0.0.1:4222.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${NATS_URL:-}" ] && [ -z "${NATS_SERVER:-}" ]; then
  NATS_URL=nats://127.0.0.1:4222
  export NATS_URL
fi
if [ -f "$here/dist/main.js" ]; then
  exec node "$here/bin/customer-service.js" publish customer-registered "$@"
elif [ -f "$here/node_modules/tsx/package.json" ]; then
  # A source checkout (npm ci, no build): what `npm run cli` runs.
  exec node --import tsx "$here/src/main.ts" publish customer-registered "$@"
else
  exec customer-service publish customer-registered "$@"
fi
