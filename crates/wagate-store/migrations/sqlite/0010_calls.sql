-- Calls (§17.4): an instance may reject incoming calls, and send the caller a text after.
ALTER TABLE instances ADD COLUMN reject_calls BIGINT NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN reject_call_message TEXT NULL;
