-- Reads whose cost must not grow with the data (issue 19).
--
-- The status statistics (§6.4) kept as messages and chats move, so that the status route reads a
-- few rows instead of counting the instance's whole history. `day` is a UTC day (days since the
-- Unix epoch): messages sent (by `sent_at`) and received (by `created_at`) that day.
CREATE TABLE message_days (
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    day BIGINT NOT NULL,
    sent BIGINT NOT NULL,
    received BIGINT NOT NULL,
    PRIMARY KEY (instance_id, day)
);
-- Outbound messages that left (any status but `queued`), those `delivered` or `read`, and the sum
-- of the chats' unread counts.
CREATE TABLE message_totals (
    instance_id TEXT PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
    attempted BIGINT NOT NULL,
    delivered BIGINT NOT NULL,
    unread BIGINT NOT NULL
);
-- A page of an account's instances with a status, and its count, read this index alone.
CREATE INDEX instances_by_account_status ON instances (account_id, status, id);

-- "Active chats today" counts the chats whose last message is from today: a range of this index.
CREATE INDEX chats_by_last_message ON chats (instance_id, last_message_at);

-- Counted once from what is stored already.
INSERT INTO message_days (instance_id, day, sent, received)
SELECT instance_id, day, SUM(sent), SUM(received) FROM (
    SELECT instance_id, sent_at / 86400000 AS day, 1 AS sent, 0 AS received
    FROM messages WHERE direction = 'outbound' AND sent_at IS NOT NULL
    UNION ALL
    SELECT instance_id, created_at / 86400000 AS day, 0 AS sent, 1 AS received
    FROM messages WHERE direction = 'inbound'
) counted GROUP BY instance_id, day;
INSERT INTO message_totals (instance_id, attempted, delivered, unread)
SELECT i.id,
    (SELECT COUNT(*) FROM messages m WHERE m.instance_id = i.id AND m.direction = 'outbound'
        AND m.status <> 'queued'),
    (SELECT COUNT(*) FROM messages m WHERE m.instance_id = i.id AND m.direction = 'outbound'
        AND m.status IN ('delivered', 'read')),
    (SELECT COALESCE(SUM(c.unread_count), 0) FROM chats c WHERE c.instance_id = i.id)
FROM instances i;
