#!/usr/bin/env bash
# Installs what the test suite needs on a fresh machine, and nothing when it is already there.
# The tests need only the Rust toolchain and cargo-nextest: every peer they talk to (an SMTP server,
# fake chat APIs) is a Rust crate started in-process on 127.0.0.1.
set -euo pipefail

if ! command -v cargo >/dev/null; then
    echo "setup: cargo is missing; install the Rust toolchain (rustup) first" >&2
    exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "setup: installing cargo-nextest" >&2
    cargo install --locked cargo-nextest
fi
