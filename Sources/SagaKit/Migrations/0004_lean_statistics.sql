-- The outbox and the inbox are queues: every statement on them finds rows by key (id, event id, the pending partial
-- index) or by time (retention), and needs from the planner little more than row counts. With the default
-- statistics target, each autoanalyze sampled 30,000 rows and sorted every column's values, the envelope's text
-- among them: 200-270 ms for an outbox of 80,000 rows, 100 ms for an inbox, and at 1,000 sagas/s the analyzes of the
-- growing queues took 8 % of a two-core machine. A target of 10 samples 3,000 rows (20 ms); the payloads, never
-- filtered on, get no statistics at all.
ALTER TABLE sagakit_outbox
    ALTER COLUMN id SET STATISTICS 10,
    ALTER COLUMN event_id SET STATISTICS 10,
    ALTER COLUMN topic SET STATISTICS 10,
    ALTER COLUMN message_key SET STATISTICS 10,
    ALTER COLUMN event_type SET STATISTICS 10,
    ALTER COLUMN payload SET STATISTICS 0,
    ALTER COLUMN traceparent SET STATISTICS 0,
    ALTER COLUMN created_at SET STATISTICS 10,
    ALTER COLUMN published_at SET STATISTICS 10,
    ALTER COLUMN attempts SET STATISTICS 10,
    ALTER COLUMN last_error SET STATISTICS 0,
    ALTER COLUMN parked_at SET STATISTICS 10;
ALTER TABLE sagakit_inbox
    ALTER COLUMN consumer SET STATISTICS 10,
    ALTER COLUMN event_id SET STATISTICS 10,
    ALTER COLUMN event_type SET STATISTICS 10,
    ALTER COLUMN saga_id SET STATISTICS 10,
    ALTER COLUMN topic SET STATISTICS 10,
    ALTER COLUMN kafka_partition SET STATISTICS 10,
    ALTER COLUMN kafka_offset SET STATISTICS 10,
    ALTER COLUMN processed_at SET STATISTICS 10;
