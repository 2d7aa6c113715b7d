#!/usr/bin/env bash
# Creates .run/secrets.env (mode 600) once, for running the stack locally:
#   SIGNING_KEY_ENCRYPTION_KEY  base64 of 32 random bytes (jwt)
#   REFRESH_TOKEN_KEY           base64 of 32 random bytes (jwt)
#   PARTNER_SECRET_PEPPER       base64 of 32 random bytes (auth)
#   SMS_NATS_{GATEWAY,AUTH,JWT,ADMIN,EXTENSION}_PASSWORD  the NATS users' passwords
# An existing file is left alone: the keys must survive restarts, or jwt
# cannot unseal the signing key it stored in Postgres and the stored partner
# secret hashes no longer match. Deleting the file means dropping the database.
# Usage: bash scripts/secrets.sh   (prints the file's path on stderr when it creates it)
#   SMS_RUN_DIR: where the file goes (default .run, in the repository)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir="${SMS_RUN_DIR:-.run}"
file="$dir/secrets.env"

mkdir -p "$dir"
umask 077
key() { head -c 32 /dev/urandom | base64 | tr -d '\n'; }
# nats-server reads a `$VARIABLE` in its config as a config value, not as
# text: a password must be a letter, then letters and digits (`7e3f…` lexes
# as a number and the server will not start; a `#` starts a comment).
password_pattern='^[A-Za-z][A-Za-z0-9]{15,}$'
password() { printf 'p%s\n' "$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"; }

if [[ ! -s "$file" ]]; then
    tmp="$(mktemp "$dir/secrets.env.XXXXXX")"
    trap 'rm -f "$tmp"' EXIT
    {
        echo "# Local keys for scripts/run-stack.sh, made by scripts/secrets.sh."
        echo "# Keep this file: the database's signing key is sealed with these."
        echo "SIGNING_KEY_ENCRYPTION_KEY=$(key)"
        echo "REFRESH_TOKEN_KEY=$(key)"
        echo "PARTNER_SECRET_PEPPER=$(key)"
    } > "$tmp"
    chmod 600 "$tmp"
    # ln refuses to replace a file another run created meanwhile (keys never change).
    if ln "$tmp" "$file" 2>/dev/null; then
        echo "secrets: created $file" >&2
    fi
fi

# NATS passwords, one per user of nats/nats-server.conf; added to older
# files too. Unlike the keys above they may change freely.
# A password nats-server cannot read (made by an older version of this
# script) is replaced.
for user in GATEWAY AUTH JWT ADMIN EXTENSION; do
    variable="SMS_NATS_${user}_PASSWORD"
    current="$(sed -n "s/^$variable=//p" "$file" | tail -n 1)"
    if [[ -z "$current" ]]; then
        echo "$variable=$(password)" >> "$file"
    elif ! [[ "$current" =~ $password_pattern ]]; then
        tmp="$(mktemp "$dir/secrets.env.XXXXXX")"
        trap 'rm -f "$tmp"' EXIT
        grep -v "^$variable=" "$file" > "$tmp" || true
        echo "$variable=$(password)" >> "$tmp"
        mv "$tmp" "$file"
        echo "secrets: $variable was not a password nats-server can read; replaced it" >&2
    fi
done
