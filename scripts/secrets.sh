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
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=.run
file="$dir/secrets.env"

mkdir -p "$dir"
umask 077
key() { head -c 32 /dev/urandom | base64 | tr -d '\n'; }
password() { head -c 24 /dev/urandom | base64 | tr -d '\n/+='; }

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
for user in GATEWAY AUTH JWT ADMIN EXTENSION; do
    variable="SMS_NATS_${user}_PASSWORD"
    if ! grep -q "^$variable=" "$file"; then
        echo "$variable=$(password)" >> "$file"
    fi
done
