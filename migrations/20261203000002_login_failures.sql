-- Failed logins per partner number (known or not, so a lockout tells an
-- attacker nothing about which numbers exist). Owned by the auth service.
create table login_failures (
    partner_number     integer primary key,
    failures           integer not null,
    window_started_at  timestamptz not null,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now()
);
