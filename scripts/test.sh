#!/usr/bin/env bash
# The whole test suite: unit, property and end-to-end tests of every crate in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-deps.sh
exec cargo nextest run --workspace --no-fail-fast "$@"
