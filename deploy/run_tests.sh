#!/usr/bin/env bash
# The test command behind `make test`: the whole suite against real services.
# PostgreSQL (Debian packages) and Kafka (jars from Maven Central) are started by session fixtures.
set -uo pipefail
cd "$(dirname "$0")/.."
export FLOORWATCH_STATE_DIR="${FLOORWATCH_STATE_DIR:-$PWD/var}"
export PREFECT_HOME="${PREFECT_HOME:-$PWD/var/prefect-test}"
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
mkdir -p test-artifacts
.venv/bin/pytest -p no:cacheprovider --timeout=900 -q "$@" 2>&1 | tee test-artifacts/pytest.log
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
