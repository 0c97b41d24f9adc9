-- Each instance's events are numbered 1, 2, 3… in the order they are written (§15.6 `sequence`):
-- the instance row holds the last number given, and each event keeps its own.
ALTER TABLE instances ADD COLUMN event_sequence BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN sequence BIGINT NULL;
