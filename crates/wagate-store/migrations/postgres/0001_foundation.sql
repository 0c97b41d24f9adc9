-- Foundation: node settings, accounts, API keys, instances.
-- Times are BIGINT milliseconds since the Unix epoch; flags are BIGINT 0/1; lists and small
-- objects are JSON text. The same types read back identically on SQLite and PostgreSQL.
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    plan TEXT NOT NULL,
    rate_limits TEXT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NULL,
    revoked_at BIGINT NULL
);
CREATE INDEX api_keys_by_account ON api_keys (account_id, id);

CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    phone TEXT NULL,
    profile_name TEXT NULL,
    profile_pic_url TEXT NULL,
    webhook_url TEXT NULL,
    webhook_events TEXT NOT NULL,
    webhook_secret TEXT NOT NULL,
    auto_read BIGINT NOT NULL,
    auto_typing BIGINT NOT NULL,
    connection_method TEXT NULL,
    last_error TEXT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NULL,
    connected_at BIGINT NULL
);
CREATE INDEX instances_by_account ON instances (account_id, id);
