-- Webhooks: subscriptions, the event outbox, deliveries (one per event and target, each with
-- its retry state) and their attempt logs; inbound webhook URLs.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    name TEXT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhooks_by_instance ON webhooks (instance_id, status);
CREATE INDEX webhooks_by_account ON webhooks (account_id, id);

-- An event is written in the transaction of the change it reports, with one delivery per
-- target that wants it. `body` is the exact JSON every attempt sends.
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- `lane` = instance + target: first attempts of one lane go out one at a time, in id order.
-- `webhook_id` is NULL for the instance's own webhookUrl.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    webhook_id TEXT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    lane TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    locked_by TEXT NULL,
    locked_until BIGINT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_lane ON deliveries (lane, state, attempts, id);

CREATE TABLE delivery_logs (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NULL REFERENCES deliveries (id) ON DELETE SET NULL,
    webhook_id TEXT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    event_id TEXT NULL,
    event TEXT NOT NULL,
    success BIGINT NOT NULL,
    status_code BIGINT NULL,
    response_ms BIGINT NOT NULL,
    error TEXT NULL,
    retry_count BIGINT NOT NULL,
    next_retry_at BIGINT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX delivery_logs_by_webhook ON delivery_logs (webhook_id, id);

CREATE TABLE inbound_webhooks (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX inbound_webhooks_by_account ON inbound_webhooks (account_id, id);
