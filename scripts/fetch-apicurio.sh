#!/usr/bin/env bash
# Fetches Apicurio Registry (the real Schema Registry the Avro tests start) from Maven Central into .cache/, once.
# 2.6.x is the last line that runs on Java 17 (3.x needs Java 21); its `ccompat` API is the Confluent Schema Registry
# REST API, and its default storage is in memory (H2), so a test gets a fresh, empty registry per start.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${APICURIO_REGISTRY_VERSION:-2.6.13.Final}"
dir=".cache/apicurio-registry-${version}"
jar="${dir}/apicurio-registry-app-${version}-runner.jar"
if [ -f "$jar" ]; then
  echo "$jar"
  exit 0
fi
mkdir -p "$dir"
url="https://repo1.maven.org/maven2/io/apicurio/apicurio-registry-app/${version}/apicurio-registry-app-${version}-all.tar.gz"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
curl -fsSL --retry 3 -o "$tmp" "$url"
tar -xzf "$tmp" -C "$dir"
test -f "$jar"
echo "$jar"
