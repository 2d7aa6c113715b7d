#!/usr/bin/env bash
# `make test`: the workspace's tests against real NATS and PostgreSQL.
#   1. scripts/ensure-deps.sh: nats-server and a reachable PostgreSQL
#      (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres,
#      where the tests create throwaway databases);
#   2. cargo build --bins (debug: the tests run target/debug/{jwt,auth,gateway,smsctl});
#   3. cargo test --workspace, with this script's arguments passed on
#      (e.g. `make test ARGS="-- --test-threads=2"`).
# The harness starts its own nats-server from NATS_SERVER_BIN, exported here.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

eval "$(bash scripts/ensure-deps.sh "${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}")"
export NATS_SERVER_BIN

cargo build --bins
cargo test --workspace "$@"
