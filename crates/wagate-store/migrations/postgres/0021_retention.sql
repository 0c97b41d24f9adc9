-- Retention (§21.1): what pruning deletes is found, and what goes with it is reached, by index.
-- Deleting an event deletes its deliveries (ON DELETE CASCADE), and deleting a delivery clears
-- its logs' `delivery_id` (ON DELETE SET NULL): each needs an index on the referring column, or
-- every deleted row would scan the other table.
CREATE INDEX deliveries_by_event ON deliveries (event_id);
CREATE INDEX delivery_logs_by_delivery ON delivery_logs (delivery_id);
-- Idempotency records are keyed by account and key; their age is found here.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
