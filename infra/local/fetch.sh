#!/usr/bin/env bash
# Fetches Kafka (+ a logging binding) and Apicurio Registry from Maven Central into .cache/.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
source "$HERE/versions.sh"
KAFKA_LIBS="$ROOT/.cache/kafka-$KAFKA_VERSION/libs"
APICURIO_DIR="$ROOT/.cache/apicurio-$APICURIO_VERSION"

if ! ls "$KAFKA_LIBS"/kafka_2.13-*.jar >/dev/null 2>&1; then
  echo "fetch: Kafka $KAFKA_VERSION from Maven Central (first run only)"
  mvn -q -B -f "$HERE/pom.xml" process-resources
fi
if ! ls "$APICURIO_DIR"/*-runner.jar >/dev/null 2>&1; then
  echo "fetch: Apicurio Registry $APICURIO_VERSION from Maven Central (first run only)"
  # dependency:copy rather than the pom: the app's parent pom is not published on Central,
  # so a declared dependency fails to resolve while a direct artifact copy works.
  mkdir -p "$APICURIO_DIR"
  mvn -q -B dependency:copy "-Dartifact=io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
    "-DoutputDirectory=$APICURIO_DIR"
  tar -xzf "$APICURIO_DIR/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz" -C "$APICURIO_DIR"
  rm -f "$APICURIO_DIR/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz"
fi
