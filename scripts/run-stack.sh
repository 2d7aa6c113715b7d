#!/usr/bin/env bash
# `make run`: the whole stack on this machine, in the foreground.
#
#   nats-server (own port) -> smsctl migrate -> jwt, auth, gateway
#   -> wait for GET /readyz -> demo partner -> wait for Ctrl-C / SIGTERM
#
# Settings (environment):
#   DATABASE_URL  default postgres://postgres@127.0.0.1:5432/sms
#   NATS_PORT     default 4222; when unset and 4222 is taken, a free port is used
#   HTTP_ADDR     default 127.0.0.1:8080   (the gateway's public address)
#   ADMIN_ADDR    default 127.0.0.1:9091   (the gateway's operator address)
#   LOG_FORMAT, RUST_LOG, TOKEN_TTL, ... are passed through to the programs.
# Keys come from .run/secrets.env (made once by scripts/secrets.sh).
#
# While it runs, .run/stack.env tells `target/release/smsctl` (run from the
# repository) where the stack is, so `smsctl partner list` needs no flags.
# Logs: on the terminal, prefixed [jwt] [auth] [gateway]; also .run/NAME.log,
# and nats-server's in .run/nats.log.
#
# Stopping: Ctrl-C or SIGTERM stops gateway, then auth and jwt (each may
# finish its requests in flight; SIGKILL after STOP_TIMEOUT=15 s), then
# nats-server, and exits 0. If any of them dies on its own, everything is
# stopped and the script exits 1. The programs run in their own sessions so
# a Ctrl-C reaches only this script, which stops them in that order; should
# the script itself be SIGKILLed, a small watchdog stops them instead.
#
# Prints one line `demo partner: {"partnerNumber":N,"partnerUuid":"...","partnerSecret":"..."}`
# (a partner named demo, created once; its secret is rotated on every start,
# since only a hash is stored). Needs bash >= 5.1 and python3.
set -euo pipefail
((BASH_VERSINFO[0] > 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] >= 1))) \
    || { echo "run-stack: needs bash >= 5.1 (wait -n -p)" >&2; exit 1; }

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUN_DIR=.run
mkdir -p "$RUN_DIR"

say() { printf 'run-stack: %s\n' "$*"; }
die() {
    printf 'run-stack: error: %s\n' "$*" >&2
    exit 1
}

STOP_TIMEOUT="${STOP_TIMEOUT:-15}"
declare -A PIDS=()   # name -> pid of what we started
START_ORDER=()       # names, in the order they were started
STOPPING=""
WROTE_STACK_ENV=""

# ---------------------------------------------------------------------------
# stopping
# ---------------------------------------------------------------------------
alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

# Sends SIGTERM to every named process, waits for all of them until the
# shared deadline, then SIGKILLs what is left.
stop_group() {
    local name pid deadline
    for name in "$@"; do
        pid="${PIDS[$name]:-}"
        alive "$pid" && kill -TERM "$pid" 2>/dev/null
    done
    deadline=$((SECONDS + STOP_TIMEOUT))
    for name in "$@"; do
        pid="${PIDS[$name]:-}"
        [[ -n "$pid" ]] || continue
        while alive "$pid" && ((SECONDS < deadline)); do
            sleep 0.1
        done
        if alive "$pid"; then
            say "$name did not stop within ${STOP_TIMEOUT}s; killing it"
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
        unset "PIDS[$name]"
    done
}

stop_all() {
    local status=$?
    SIGNALLED=1 # from now on a signal changes nothing (see on_signal)
    # Once: later signals (make forwards SIGTERM too) must not interrupt it.
    [[ -n "$STOPPING" ]] && return
    STOPPING=1
    trap '' INT TERM HUP QUIT PIPE
    set +e
    if ((${#PIDS[@]} > 0)); then
        say "stopping"
        stop_group gateway
        stop_group auth jwt
        stop_group nats
        say "stopped"
    fi
    [[ -n "$WROTE_STACK_ENV" ]] && rm -f "$RUN_DIR/stack.env"
    if [[ -n "${WATCHDOG_FD:-}" ]]; then
        (echo "done" >&"$WATCHDOG_FD") 2>/dev/null
        exec {WATCHDOG_FD}>&-
    fi
    exit "$status"
}

SIGNALLED=""
on_signal() {
    # Once: make forwards SIGTERM to us as well, and a second `exit` from a
    # trap would cut the EXIT trap's clean-up short.
    [[ -n "$SIGNALLED" ]] && return
    SIGNALLED=1
    echo >&2
    say "$1 received"
    exit 0 # the EXIT trap stops everything
}

trap stop_all EXIT
trap 'on_signal SIGINT' INT
trap 'on_signal SIGTERM' TERM
trap 'on_signal SIGHUP' HUP
trap 'on_signal SIGQUIT' QUIT

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
# Exit 0 when HOST:PORT can be bound (nothing listens there).
port_free() {
    python3 - "$1" "$2" <<'PY'
import socket, sys
host, port = sys.argv[1].strip("[]"), int(sys.argv[2])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
probe = socket.socket(family, socket.SOCK_STREAM)
probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    probe.bind((host, port))
except OSError:
    sys.exit(1)
finally:
    probe.close()
connect_host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
check = socket.socket(family, socket.SOCK_STREAM)
check.settimeout(0.5)
sys.exit(1 if check.connect_ex((connect_host, port)) == 0 else 0)
PY
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

addr_host() { printf '%s\n' "${1%:*}"; }
addr_port() { printf '%s\n' "${1##*:}"; }

check_addr_free() { # VAR value
    local host port
    host="$(addr_host "$2")"
    port="$(addr_port "$2")"
    [[ "$port" =~ ^[0-9]+$ && "$2" == *:* ]] || die "$1=$2 is not HOST:PORT"
    port_free "$host" "$port" || die "$1=$2 is taken (another process listens there); set $1 to a free address, e.g. $1=${host}:$((port + 1))"
}

tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

http_status() {
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true
    else
        python3 - "$1" <<'PY' 2>/dev/null || true
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status, end="")
except urllib.error.HTTPError as error:
    print(error.code, end="")
except Exception:
    print("000", end="")
PY
    fi
}

# The programs run in their own sessions, so a signal to this script's
# process group does not reach them; if this script dies without cleaning up
# (SIGKILL), this watchdog, told each "NAME PID" on a pipe, sees the pipe
# close and stops them in the same order. A "done" line dismisses it.
start_watchdog() {
    exec {WATCHDOG_FD}> >(
        trap '' INT TERM HUP QUIT
        # shellcheck disable=SC2016 # the script below expands its own variables
        exec setsid bash -c '
            declare -A pid=()
            # Orphans are reaped by PID 1, maybe late: a zombie counts as gone.
            running() {
                [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null || return 1
                local stat
                stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
                stat="${stat##*) }"
                [[ "${stat%% *}" != Z ]]
            }
            while read -r name number; do
                [[ "$name" == done ]] && exit 0
                pid[$name]=$number
            done
            for group in gateway "auth jwt" nats; do
                for name in $group; do
                    running "${pid[$name]:-}" && kill -TERM "${pid[$name]}" 2>/dev/null
                done
                for _ in $(seq 1 150); do
                    left=""
                    for name in $group; do
                        running "${pid[$name]:-}" && left=1
                    done
                    [[ -z "$left" ]] && break
                    sleep 0.1
                done
                for name in $group; do
                    running "${pid[$name]:-}" && kill -KILL "${pid[$name]}" 2>/dev/null
                done
            done
            rm -f "$1/stack.env"
        ' watchdog "$RUN_DIR"
    )
}

# (in a subshell: should the watchdog be gone, SIGPIPE must not end this script)
watch() { [[ -z "${WATCHDOG_FD:-}" ]] || (echo "$1 $2" >&"$WATCHDOG_FD") 2>/dev/null || true; }

# Starts NAME in the background in its own session; stdout and stderr go to
# the terminal prefixed with [NAME] and to .run/NAME.log. The log pipe
# ignores INT/TERM so the shutdown messages still come through.
start_program() {
    local name="$1"
    shift
    setsid "$@" {WATCHDOG_FD}>&- </dev/null > >(
        trap '' INT TERM HUP
        tee "$RUN_DIR/$name.log" | sed -u "s/^/[$name] /"
    ) 2>&1 &
    PIDS[$name]=$!
    START_ORDER+=("$name")
    watch "$name" "${PIDS[$name]}"
}

check_children() {
    local name
    for name in "${START_ORDER[@]}"; do
        [[ -n "${PIDS[$name]:-}" ]] || continue
        if ! alive "${PIDS[$name]}"; then
            local status=0
            wait "${PIDS[$name]}" 2>/dev/null || status=$?
            unset "PIDS[$name]"
            [[ "$name" == nats ]] && tail -n 20 "$RUN_DIR/nats.log" >&2
            die "$name exited unexpectedly (status $status)"
        fi
    done
}

# ---------------------------------------------------------------------------
# settings
# ---------------------------------------------------------------------------
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/sms}"
export HTTP_ADDR="${HTTP_ADDR:-127.0.0.1:8080}"
export ADMIN_ADDR="${ADMIN_ADDR:-127.0.0.1:9091}"
NATS_PORT_FROM_USER="${NATS_PORT:-}"
# Plain log lines when the output is a file or a pipe, not a terminal.
[[ -t 1 ]] || export NO_COLOR="${NO_COLOR:-1}"

eval "$(bash scripts/ensure-deps.sh "$DATABASE_URL")"
[[ -x "${NATS_SERVER_BIN:-}" ]] || die "ensure-deps did not find nats-server"
bash scripts/secrets.sh

check_nats_port_from_user() {
    [[ -n "$NATS_PORT_FROM_USER" ]] || return 0
    [[ "$NATS_PORT_FROM_USER" =~ ^[0-9]+$ ]] || die "NATS_PORT=$NATS_PORT_FROM_USER is not a port number"
    port_free 127.0.0.1 "$NATS_PORT_FROM_USER" \
        || die "NATS_PORT=$NATS_PORT_FROM_USER is taken (another process listens there); choose another, or unset NATS_PORT to have a free one picked"
}

check_addr_free HTTP_ADDR "$HTTP_ADDR"
check_addr_free ADMIN_ADDR "$ADMIN_ADDR"
check_nats_port_from_user

say "building (cargo build --release --bins)"
cargo build --release --bins
BIN=target/release
SMSCTL="$BIN/smsctl"

# Ports again right before use: the build can take a while.
check_addr_free HTTP_ADDR "$HTTP_ADDR"
check_addr_free ADMIN_ADDR "$ADMIN_ADDR"
check_nats_port_from_user
if [[ -n "$NATS_PORT_FROM_USER" ]]; then
    NATS_PORT="$NATS_PORT_FROM_USER"
else
    NATS_PORT=4222
    if ! port_free 127.0.0.1 "$NATS_PORT"; then
        NATS_PORT="$(free_port)"
        say "NATS port 4222 is taken; using $NATS_PORT"
    fi
fi
export NATS_PORT
export NATS_URL="nats://127.0.0.1:$NATS_PORT"

# ---------------------------------------------------------------------------
# nats-server
# ---------------------------------------------------------------------------
set -a
# shellcheck source=/dev/null
source "$RUN_DIR/secrets.env"
set +a

start_watchdog
say "starting nats-server on 127.0.0.1:$NATS_PORT (log: $RUN_DIR/nats.log)"
setsid "$NATS_SERVER_BIN" -c nats/nats-server.conf -p "$NATS_PORT" -a 127.0.0.1 \
    {WATCHDOG_FD}>&- </dev/null >"$RUN_DIR/nats.log" 2>&1 &
PIDS[nats]=$!
START_ORDER+=(nats)
watch nats "${PIDS[nats]}"
for _ in $(seq 1 100); do
    tcp_open 127.0.0.1 "$NATS_PORT" && break
    check_children
    sleep 0.1
done
tcp_open 127.0.0.1 "$NATS_PORT" || die "nats-server does not accept connections on port $NATS_PORT (see $RUN_DIR/nats.log)"

# ---------------------------------------------------------------------------
# database and programs
# ---------------------------------------------------------------------------
"$SMSCTL" migrate || die "smsctl migrate failed (DATABASE_URL=$DATABASE_URL)"

# Each program gets its own NATS user and only the keys it needs.
ALL_SECRETS=(SIGNING_KEY_ENCRYPTION_KEY REFRESH_TOKEN_KEY PARTNER_SECRET_PEPPER
    SMS_NATS_GATEWAY_PASSWORD SMS_NATS_AUTH_PASSWORD SMS_NATS_JWT_PASSWORD SMS_NATS_ADMIN_PASSWORD
    SMS_NATS_EXTENSION_PASSWORD)
# The password travels in the environment, never on a command line (which
# `ps` shows to every user).
program_env() {
    local user="$1" keep=("${@:2}") unset_args=(-u NATS_PASSWORD_FILE) variable
    for variable in "${ALL_SECRETS[@]}"; do
        [[ " ${keep[*]} " == *" $variable "* ]] || unset_args+=(-u "$variable")
    done
    printf '%s\n' env "${unset_args[@]}" "NATS_USER=$user"
}
mapfile -t jwt_env < <(program_env jwt SIGNING_KEY_ENCRYPTION_KEY REFRESH_TOKEN_KEY)
mapfile -t auth_env < <(program_env auth PARTNER_SECRET_PEPPER)
mapfile -t gateway_env < <(program_env gateway)
NATS_PASSWORD="$SMS_NATS_JWT_PASSWORD" start_program jwt "${jwt_env[@]}" "$BIN/jwt"
NATS_PASSWORD="$SMS_NATS_AUTH_PASSWORD" start_program auth "${auth_env[@]}" "$BIN/auth"
NATS_PASSWORD="$SMS_NATS_GATEWAY_PASSWORD" start_program gateway "${gateway_env[@]}" "$BIN/gateway"
# smsctl, here and from the repository, speaks as the admin user.
export NATS_USER=admin NATS_PASSWORD="$SMS_NATS_ADMIN_PASSWORD"

# Where smsctl (run from the repository) finds this stack; it holds the
# admin user's password, so only we may read it.
umask 077
{
    echo "# Written by scripts/run-stack.sh while the stack runs; removed when it stops."
    echo "NATS_URL=$NATS_URL"
    echo "NATS_USER=admin"
    echo "NATS_PASSWORD=$SMS_NATS_ADMIN_PASSWORD"
    echo "DATABASE_URL=$DATABASE_URL"
} >"$RUN_DIR/stack.env.tmp"
mv "$RUN_DIR/stack.env.tmp" "$RUN_DIR/stack.env"
WROTE_STACK_ENV=1

http_host="$(addr_host "$HTTP_ADDR")"
case "$http_host" in
    0.0.0.0 | "") http_host=127.0.0.1 ;;
    "[::]") http_host="[::1]" ;;
esac
GATEWAY_URL="http://$http_host:$(addr_port "$HTTP_ADDR")"

deadline=$((SECONDS + ${READY_TIMEOUT:-30}))
status=""
while ((SECONDS < deadline)); do
    check_children
    status="$(http_status "$GATEWAY_URL/readyz")"
    [[ "$status" == 200 ]] && break
    sleep 0.5
done
[[ "$status" == 200 ]] || die "the gateway is not ready after ${READY_TIMEOUT:-30}s ($GATEWAY_URL/readyz answered ${status:-nothing}); see the logs above"

# ---------------------------------------------------------------------------
# demo partner: secrets are stored only hashed, so a usable secret is a new one
# ---------------------------------------------------------------------------
partners="$("$SMSCTL" partner list --json)" || die "smsctl partner list failed"
demo="$(python3 -c '
import json, sys
partners = [p for p in json.load(sys.stdin)["partners"] if p.get("name") == "demo"]
partners.sort(key=lambda p: p.get("status") != "active")  # an active one first
if partners:
    print(partners[0]["partnerNumber"], partners[0].get("status", ""))
' <<<"$partners")" || die "cannot read the partner list: $partners"
if [[ -n "$demo" ]]; then
    read -r demo_number demo_status <<<"$demo"
    if [[ "$demo_status" != active ]]; then
        "$SMSCTL" partner enable "$demo_number" >/dev/null || die "cannot enable the demo partner $demo_number"
    fi
    credentials="$("$SMSCTL" partner rotate-secret "$demo_number" --json)" || die "cannot rotate the demo partner's secret"
else
    credentials="$("$SMSCTL" partner create --name demo --json)" || die "cannot create the demo partner"
fi
demo_line="$(python3 -c '
import json, sys
c = json.load(sys.stdin)
print(json.dumps({"partnerNumber": c["partnerNumber"], "partnerUuid": c["partnerUuid"],
                  "partnerSecret": c["partnerSecret"]}, separators=(",", ":")))
' <<<"$credentials")" || die "unexpected reply from smsctl: $credentials"
echo "demo partner: $demo_line"

say "gateway: $GATEWAY_URL (operator: http://$ADMIN_ADDR)"
say "smsctl: $SMSCTL partner list   (reads $RUN_DIR/stack.env)"
say "stack ready; Ctrl-C to stop"

# ---------------------------------------------------------------------------
# wait: a signal runs on_signal (exit 0); a child ending on its own is an error
# ---------------------------------------------------------------------------
while :; do
    exited=""
    code=0
    wait -n -p exited "${PIDS[@]}" || code=$?
    if [[ -n "$exited" ]]; then
        for name in "${!PIDS[@]}"; do
            if [[ "${PIDS[$name]}" == "$exited" ]]; then
                unset "PIDS[$name]"
                die "$name exited unexpectedly (status $code)"
            fi
        done
    fi
    check_children
done
