-- The claim query finds the head of each lane among pending first attempts, and the rows it just
-- claimed, without scanning delivered rows (they stay for the logs' retry).
CREATE INDEX deliveries_heads ON deliveries (state, attempts, lane, id);
CREATE INDEX deliveries_claimed ON deliveries (locked_by);
