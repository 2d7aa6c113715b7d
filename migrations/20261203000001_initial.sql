-- Partners: owned by the auth service. The secret is kept only as a keyed
-- hash (HMAC-SHA-256 with a pepper from the environment).
create table partners (
    partner_number     integer primary key check (partner_number between 10000000 and 99999999),
    partner_uuid       uuid not null unique,
    name               text not null check (length(name) between 1 and 200),
    secret_hash        bytea not null,
    status             text not null default 'active' check (status in ('active', 'disabled')),
    -- tokens issued before this instant are void (secret rotation, disabling)
    tokens_valid_after timestamptz not null default 'epoch',
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now()
);

-- Signing keys: owned by the jwt service, shared by every instance. The
-- private half is encrypted (ChaCha20-Poly1305) with a key from the environment.
create table signing_keys (
    kid                  text primary key,
    algorithm            text not null,
    public_key           bytea not null,
    private_key_sealed   bytea not null,
    status               text not null check (status in ('active', 'retired')),
    created_at           timestamptz not null default now(),
    retired_at           timestamptz,
    updated_at           timestamptz not null default now()
);
create unique index signing_keys_one_active on signing_keys ((true)) where status = 'active';

-- A login and every token refreshed from it: revoking the family revokes them all.
create table token_families (
    id                   uuid primary key,
    partner_number       integer not null references partners (partner_number),
    absolute_expires_at  timestamptz not null,
    revoked_at           timestamptz,
    revoked_reason       text,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now()
);

-- Access tokens: the claims needed to sign the same token again (Ed25519
-- signatures are deterministic), never the token itself. `refresh_id` is
-- the id from which the refresh token is derived with a keyed MAC.
create table access_tokens (
    jti              uuid primary key,
    family_id        uuid not null references token_families (id),
    partner_number   integer not null references partners (partner_number),
    kid              text not null references signing_keys (kid),
    issued_at        timestamptz not null,
    expires_at       timestamptz not null,
    refresh_id       uuid not null unique,
    refresh_used_at  timestamptz,
    revoked_at       timestamptz,
    created_at       timestamptz not null default clock_timestamp(),
    updated_at       timestamptz not null default now()
);
create index access_tokens_partner on access_tokens (partner_number, created_at desc);
create index access_tokens_family on access_tokens (family_id);

-- The partner's current access token. Its row is the lock that serialises
-- token requests for one partner, so two current tokens cannot exist.
create table current_tokens (
    partner_number  integer primary key references partners (partner_number),
    jti             uuid references access_tokens (jti),
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);

-- Who did what, when, with which outcome. Never secrets or tokens.
create table audit_events (
    id              bigint generated always as identity primary key,
    occurred_at     timestamptz not null default clock_timestamp(),
    actor           text not null,
    action          text not null,
    outcome         text not null,
    partner_number  integer,
    request_id      text,
    detail          jsonb not null default '{}'::jsonb,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
create index audit_events_partner on audit_events (partner_number, occurred_at);
