-- Secret rotation with an overlap: the previous secret's hash stays valid
-- until previous_secret_expires_at, so a partner can roll its clients over.
alter table partners
    add column previous_secret_hash       bytea,
    add column previous_secret_expires_at timestamptz,
    add constraint partners_previous_secret_pair
        check ((previous_secret_hash is null) = (previous_secret_expires_at is null));
