-- When each applied event was produced (the Kafka message's timestamp: the relay's produce call, i.e. its pick-up
-- of the outbox row) and when this consumer polled it. With the outbox's created_at and published_at and the
-- inbox's processed_at, a hop splits into commit -> pick-up -> broker ack -> poll -> handler transaction, which
-- saga-bench reports per stage. Nullable: rows written before this migration, or from messages without a timestamp.
ALTER TABLE sagakit_inbox ADD COLUMN produced_at timestamptz, ADD COLUMN polled_at timestamptz;
-- Lean planner statistics, as every inbox column has (migration 0004).
ALTER TABLE sagakit_inbox ALTER COLUMN produced_at SET STATISTICS 10, ALTER COLUMN polled_at SET STATISTICS 10;
