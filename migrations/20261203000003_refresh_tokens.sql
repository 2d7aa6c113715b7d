-- Refresh tokens get a table of their own: every login gets its own refresh
-- token (and family), even when it is handed the partner's current access
-- token, so two clients of one partner never share a refresh token.
-- `replaced_by` links a spent refresh token to the one that replaced it,
-- which tells a concurrent duplicate (its successor still unused) from a
-- replay after the chain moved on.
create table refresh_tokens (
    id           uuid primary key,
    family_id    uuid not null references token_families (id),
    access_jti   uuid not null references access_tokens (jti),
    used_at      timestamptz,
    replaced_by  uuid references refresh_tokens (id),
    created_at   timestamptz not null default clock_timestamp(),
    updated_at   timestamptz not null default now()
);
create index refresh_tokens_family on refresh_tokens (family_id);

insert into refresh_tokens (id, family_id, access_jti, used_at, created_at)
select refresh_id, family_id, jti, refresh_used_at, created_at from access_tokens;

alter table access_tokens drop column refresh_id, drop column refresh_used_at;
