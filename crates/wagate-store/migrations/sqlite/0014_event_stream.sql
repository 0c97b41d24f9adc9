-- Every event has a place in its account's stream (§21): `(tx, position)`, in commit order.
-- SQLite has one writer, which commits in the order it writes, so the next number is enough
-- (`tx` stays 0); an explicit column, because VACUUM may renumber rowids.
ALTER TABLE events ADD COLUMN tx BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN position BIGINT NULL;
UPDATE events SET position = rowid;
CREATE INDEX events_stream ON events (account_id, tx, position);
CREATE INDEX events_position ON events (position);
