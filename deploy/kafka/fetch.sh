#!/usr/bin/env bash
# Download the Kafka broker jars (see pom.xml) from Maven Central into a cache folder.
#   FLOORWATCH_KAFKA_HOME   cache root (default ~/.cache/floorwatch/kafka); jars go to $FLOORWATCH_KAFKA_HOME/libs
# Does nothing when the jars are already there. Needs Java 17+ and Maven.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
home="${FLOORWATCH_KAFKA_HOME:-$HOME/.cache/floorwatch/kafka}"
libs="$home/libs"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"

if [[ -f "$libs/kafka_2.13-$version.jar" && -f "$libs/.complete" ]]; then
  exit 0
fi
for tool in java mvn; do
  command -v "$tool" >/dev/null || { echo "fetch.sh: '$tool' not found (install Java 17+ and Maven)" >&2; exit 2; }
done
mkdir -p "$home"
tmp="$(mktemp -d "$home/libs.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "fetch.sh: downloading Kafka $version jars into $libs" >&2
mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >&2
touch "$tmp/.complete"
# Swap in atomically so a half-finished download is never mistaken for a complete one.
rm -rf "$libs"
mv "$tmp" "$libs"
trap - EXIT
