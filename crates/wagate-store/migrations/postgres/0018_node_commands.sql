-- Commands for an instance held by another node (§19): the asking node writes one, the holder
-- takes it, runs it and writes the answer; both are told by NOTIFY. The asking node deletes the
-- row when it has read the answer, or given up waiting.
CREATE TABLE node_commands (
    id TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    from_node TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    body TEXT NOT NULL,
    taken_at BIGINT NULL,
    answer TEXT NULL,
    created_at BIGINT NOT NULL
);
