-- The outbox and the inbox are queues: every statement on them finds rows by key (id, event id, the pending partial
-- index) or by time (retention), and needs from the planner little more than row counts. With the default
-- statistics target, each autoanalyze sampled 30,000 rows and sorted every column's values, the envelope's text
-- among them: 200-270 ms for an outbox of 80,000 rows, 100 ms for an inbox, and at 1,000 sagas/s the analyzes of the
-- growing tables took 8 % of a two-core machine. A target of 10 samples 3,000 rows (20 ms); payloads, never
-- filtered on, get no statistics at all.
--
-- sagakit_lean_statistics(table, unsampled) sets this on every column a table has now, for the services' own
-- tables that grow with every saga (their migrations run after these).
CREATE FUNCTION sagakit_lean_statistics(target regclass, unsampled text[] DEFAULT '{}') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    col name;
BEGIN
    FOR col IN SELECT attname FROM pg_attribute WHERE attrelid = target AND attnum > 0 AND NOT attisdropped LOOP
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET STATISTICS %s',
                       target, col, CASE WHEN col = ANY (unsampled) THEN 0 ELSE 10 END);
    END LOOP;
END
$$;

SELECT sagakit_lean_statistics('sagakit_outbox', ARRAY['payload', 'traceparent', 'last_error']);
SELECT sagakit_lean_statistics('sagakit_inbox');
