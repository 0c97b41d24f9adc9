-- The sandbox network across nodes (§19): the node and process each sandbox instance is
-- connected on. A connection of a process that is no longer live (silent past a lease, or
-- stopped, or replaced by a later process of the same node) counts for nothing.
CREATE TABLE sandbox_connections (
    instance_id TEXT PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
    node_id TEXT NOT NULL,
    incarnation TEXT NOT NULL,
    since BIGINT NOT NULL
);
-- A sandbox message finds its receiver by the number it is linked as.
CREATE INDEX instances_by_phone ON instances (phone);
