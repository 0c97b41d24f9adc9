-- Each broker output (§21): its place in the stream of every account's events, and the node
-- that publishes to it now (`holder`, until `held_until`, milliseconds).
CREATE TABLE broker_targets (
    target TEXT PRIMARY KEY,
    tx BIGINT NOT NULL,
    position BIGINT NOT NULL,
    holder TEXT NULL,
    held_until BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
-- The stream of all events, in commit order.
CREATE INDEX events_all_stream ON events (tx, position);
