-- How many instances each account has, kept by the two statements that add and remove one
-- (`insert_instance`, `delete_instance`, in their transactions), so that `GET /v1/account` and the
-- `total` of `GET /v1/instances` read one row instead of counting the account's instances
-- (issue 19: 140–160 ms a request at 100,000 instances on SQLite).
ALTER TABLE accounts ADD COLUMN instance_count BIGINT NOT NULL DEFAULT 0;

-- Counted once from what is stored already.
UPDATE accounts SET instance_count = (
    SELECT COUNT(*) FROM instances WHERE instances.account_id = accounts.id
);
