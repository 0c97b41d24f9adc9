-- Several nodes on one database (§19). Each node heartbeats here; `incarnation` names the
-- process, so a restarted node (or a second process given the same id) is told apart from the
-- one before it. `state`: 'up' | 'draining' | 'gone' (stopped cleanly); a silent node is gone
-- whatever it last wrote.
CREATE TABLE nodes (
    node_id TEXT PRIMARY KEY,
    incarnation TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    state TEXT NOT NULL
);
-- Which node drives each instance, until when (milliseconds), under which epoch. A released
-- lease keeps its row (node_id NULL), so the epoch only ever grows.
CREATE TABLE instance_leases (
    instance_id TEXT PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
    node_id TEXT NULL,
    epoch BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX instance_leases_node ON instance_leases (node_id, expires_at);
