-- Every kind of message (§17): reactions to a message, one per person (taking one back deletes
-- it); a poll's votes, the latest of each voter (`options` is the JSON list of the options
-- chosen); and the network's id of a quoted message, kept beside wagate's own `msg_` id.
CREATE TABLE message_reactions (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    reactor TEXT NOT NULL,
    emoji TEXT NOT NULL,
    reacted_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, reactor)
);

CREATE TABLE poll_votes (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    voter TEXT NOT NULL,
    options TEXT NOT NULL,
    voted_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, voter)
);

ALTER TABLE messages ADD COLUMN quoted_external_id TEXT NULL;
