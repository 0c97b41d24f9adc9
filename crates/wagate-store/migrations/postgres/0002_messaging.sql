-- Messaging: the saved session of each instance, messages (whose `queued` rows, in id order, are
-- each instance's durable FIFO send queue), chats, contacts and idempotency keys.
ALTER TABLE instances ADD COLUMN session TEXT NULL;

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    chat_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    peer TEXT NOT NULL,
    peer_name TEXT NULL,
    type TEXT NOT NULL,
    content TEXT NOT NULL,
    media TEXT NULL,
    quoted_message_id TEXT NULL,
    metadata TEXT NULL,
    external_id TEXT NULL,
    status TEXT NOT NULL,
    error TEXT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT NULL,
    delivered_at BIGINT NULL,
    read_at BIGINT NULL
);
CREATE INDEX messages_queue ON messages (instance_id, status, id);
CREATE INDEX messages_by_chat ON messages (instance_id, chat_id, id);
CREATE UNIQUE INDEX messages_by_external ON messages (instance_id, external_id);

CREATE TABLE chats (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    peer TEXT NOT NULL,
    contact_name TEXT NULL,
    is_group BIGINT NOT NULL,
    unread_count BIGINT NOT NULL,
    last_message_id TEXT NULL,
    last_message_at BIGINT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (instance_id, peer)
);

CREATE TABLE contacts (
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    phone TEXT NOT NULL,
    name TEXT NULL,
    profile_pic_url TEXT NULL,
    about TEXT NULL,
    is_blocked BIGINT NOT NULL,
    PRIMARY KEY (instance_id, phone)
);

CREATE TABLE idempotency_keys (
    account_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    message_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, key)
);
