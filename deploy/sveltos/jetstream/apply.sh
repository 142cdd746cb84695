#!/usr/bin/env bash
# Creates (or updates) the JetStream streams and consumers of the corporate flow with the nats CLI.
# Usage: NATS_URL=nats://user:pass@nats.nats:4222 ./apply.sh   (WITH_SERVICE_CONSUMER=true in service mode)
# One stream per subject, named after it: what Sveltos' JetStream mode looks for. The customer-service consumer is only
# needed when the service consumes customer-registered itself; the service also creates it on start.
set -euo pipefail
cd "$(dirname "$0")"
for subject in customer-registered customer-saved user-saved; do
  if nats stream info "$subject" >/dev/null 2>&1; then
    nats stream edit "$subject" --config "stream-$subject.json" --force
  else
    nats stream add "$subject" --config "stream-$subject.json"
  fi
done
consumer() { # stream, durable, file
  if nats consumer info "$1" "$2" >/dev/null 2>&1; then
    nats consumer edit "$1" "$2" --config "$3" --force
  else
    nats consumer add "$1" --config "$3"
  fi
}
consumer customer-registered sveltos-agent consumer-sveltos-agent-customer-registered.json
consumer user-saved sveltos-agent consumer-sveltos-agent-user-saved.json
if [ "${WITH_SERVICE_CONSUMER:-false}" = "true" ]; then
  consumer customer-registered customer-service consumer-customer-service.json
fi
