-- Stamp outbox and inbox rows with the time they are written, not the time their transaction began: a consumer's
-- batch or a relay's cycle can hold a transaction open for a while, and these stamps measure each hop.
ALTER TABLE sagakit_outbox ALTER COLUMN created_at SET DEFAULT clock_timestamp();
ALTER TABLE sagakit_inbox ALTER COLUMN processed_at SET DEFAULT clock_timestamp();
