-- Session state of the WhatsApp Web engine (device keys, Signal sessions, app state): keyed
-- blobs per instance in small numbered namespaces (see wagate-wa's `Ns`). `ts` drives the
-- engine's expiry sweeps. Not a foreign key to instances: rows are wiped explicitly on logout
-- and with the instance (DELETE), and a key-value write never waits on the instances table.
CREATE TABLE wa_kv (
    instance_id TEXT NOT NULL,
    ns INTEGER NOT NULL,
    k BYTEA NOT NULL,
    v BYTEA NOT NULL,
    ts BIGINT NULL,
    PRIMARY KEY (instance_id, ns, k)
);
CREATE INDEX wa_kv_sweep ON wa_kv (instance_id, ns, ts);
