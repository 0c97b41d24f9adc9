-- Edits and deletes (§17.2, §17.3). Ours wait in `message_changes` as `queued`, in id order with
-- the instance's queued messages (ids of both come from one ordered generator), until the
-- network took them (`done`) or refused them (`failed`). A contact's are kept as `done`, with
-- the network's id, so that a redelivery is recognised. A deleted message keeps its row with
-- type `deleted` and no content.
CREATE TABLE message_changes (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    text TEXT NULL,
    status TEXT NOT NULL,
    error TEXT NULL,
    external_id TEXT NULL,
    created_at BIGINT NOT NULL,
    done_at BIGINT NULL
);

CREATE INDEX message_changes_queue ON message_changes (instance_id, status, id);
CREATE UNIQUE INDEX message_changes_external ON message_changes (instance_id, external_id);

ALTER TABLE messages ADD COLUMN edited_at BIGINT NULL;
