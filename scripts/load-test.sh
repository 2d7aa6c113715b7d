#!/usr/bin/env bash
# Load test against a running stack (loopback only), with wrk:
#   RATE_LIMIT_PER_ADDRESS=1000000 RATE_LIMIT_PER_PARTNER=1000000 make run   # limits off
#   scripts/load-test.sh PARTNER_NUMBER PARTNER_SECRET [GATEWAY_URL] [SECONDS] [CONNECTIONS]
# Three runs: client-credentials login, /validate/token, and the JWKS
# document (a gateway → jwt round trip without Postgres), for comparison.
set -euo pipefail
number="${1:?partner number}"
secret="${2:?partner secret}"
gateway="${3:-http://127.0.0.1:8080}"
seconds="${4:-10}"
connections="${5:-16}"
case "$gateway" in
    http://127.* | http://localhost*) ;;
    *) echo "load-test: only loopback addresses" >&2; exit 1 ;;
esac
command -v wrk >/dev/null || { echo "load-test: needs wrk (apt-get install wrk)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
basic="$(printf '%s:%s' "$number" "$secret" | base64 | tr -d '\n')"
token="$(curl -fsS -u "$number:$secret" "$gateway/v1/auth/token" -d grant_type=client_credentials \
    | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')"
cat >"$work/login.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
LUA
cat >"$work/validate.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
LUA
: >"$work/jwks.lua"
for run in "login /v1/auth/token" "validate /validate/token" "jwks /.well-known/jwks.json"; do
    set -- $run
    echo "== $1: wrk -t2 -c$connections -d${seconds}s $gateway$2"
    wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$work/$1.lua" "$gateway$2" \
        | grep -E 'Requests/sec|Latency  |50%|99%|Non-2xx|requests in'
done
