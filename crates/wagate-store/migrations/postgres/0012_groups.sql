-- Groups (§17.5): each instance's groups as the network last described them, one row per
-- group with its members as JSON ([{phone, role}]); a group is read and written whole.
CREATE TABLE groups (
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    group_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    description TEXT NULL,
    owner TEXT NULL,
    participants TEXT NOT NULL,
    announce BIGINT NOT NULL,
    locked BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, group_id)
);

-- The member who wrote a received group message (its peer is the group); NULL otherwise.
ALTER TABLE messages ADD COLUMN author TEXT NULL;
