#!/usr/bin/env bash
# Fetches the Apache Kafka broker (org.apache.kafka:kafka_2.13, KRaft) and its dependencies from Maven Central into
# .cache/kafka/<version>/libs, for the test suite's real broker (test/support/kafka-broker.ts). Needs Java 17+ and Maven.
# Idempotent: does nothing when the jars are already there. Prints the directory of the jars.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pom="$root/test/support/kafka-broker/pom.xml"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")"
dir="${KAFKA_CACHE_DIR:-$root/.cache/kafka}/$version"
if [ ! -f "$dir/complete" ]; then
  rm -rf "$dir.tmp"
  mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir.tmp/libs" >&2
  touch "$dir.tmp/complete"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
fi
echo "$dir/libs"
