-- The tracker's tables grow by every saga (orders, sagas) and every event (saga_events), and are read by key or by
-- saga; the status queries filter on a handful of states. As for SagaKit's queues (its migration 0004), a
-- statistics target of 10 makes each autoanalyze sample 3,000 rows instead of 30,000, and the event payload, never
-- filtered on, gets no statistics: at 1,000 sagas/s, 160-175 ms per analyze of the event log became 20 ms, and
-- 65-90 ms for sagas and orders a fraction of that.
ALTER TABLE saga_events
    ALTER COLUMN event_id SET STATISTICS 10,
    ALTER COLUMN saga_id SET STATISTICS 10,
    ALTER COLUMN event_type SET STATISTICS 10,
    ALTER COLUMN producer SET STATISTICS 10,
    ALTER COLUMN occurred_at SET STATISTICS 10,
    ALTER COLUMN causation_id SET STATISTICS 10,
    ALTER COLUMN payload SET STATISTICS 0;
ALTER TABLE sagas
    ALTER COLUMN saga_id SET STATISTICS 10,
    ALTER COLUMN state SET STATISTICS 10,
    ALTER COLUMN current_step SET STATISTICS 10,
    ALTER COLUMN waiting_for SET STATISTICS 10,
    ALTER COLUMN started_at SET STATISTICS 10,
    ALTER COLUMN updated_at SET STATISTICS 10,
    ALTER COLUMN finished_at SET STATISTICS 10,
    ALTER COLUMN completed_steps SET STATISTICS 10,
    ALTER COLUMN compensations SET STATISTICS 10,
    ALTER COLUMN error SET STATISTICS 10,
    ALTER COLUMN event_count SET STATISTICS 10,
    ALTER COLUMN observed_terminal_at SET STATISTICS 10;
ALTER TABLE orders
    ALTER COLUMN order_id SET STATISTICS 10,
    ALTER COLUMN sku SET STATISTICS 10,
    ALTER COLUMN quantity SET STATISTICS 10,
    ALTER COLUMN amount_cents SET STATISTICS 10,
    ALTER COLUMN currency SET STATISTICS 10,
    ALTER COLUMN customer_email SET STATISTICS 10,
    ALTER COLUMN fail_payment SET STATISTICS 10,
    ALTER COLUMN fail_confirmation SET STATISTICS 10,
    ALTER COLUMN event_id SET STATISTICS 10,
    ALTER COLUMN created_at SET STATISTICS 10;
