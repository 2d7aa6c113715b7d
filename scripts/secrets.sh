#!/usr/bin/env bash
# Creates .run/secrets.env (mode 600) once, for running the stack locally:
#   SIGNING_KEY_ENCRYPTION_KEY  base64 of 32 random bytes (jwt)
#   REFRESH_TOKEN_KEY           base64 of 32 random bytes (jwt)
#   PARTNER_SECRET_PEPPER       base64 of 32 random bytes (auth)
# An existing file is left alone: the keys must survive restarts, or jwt
# cannot unseal the signing key it stored in Postgres and the stored partner
# secret hashes no longer match. Deleting the file means dropping the database.
# Usage: bash scripts/secrets.sh   (prints the file's path on stderr when it creates it)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=.run
file="$dir/secrets.env"

if [[ -s "$file" ]]; then
    exit 0
fi

mkdir -p "$dir"
umask 077
key() { head -c 32 /dev/urandom | base64 | tr -d '\n'; }
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
