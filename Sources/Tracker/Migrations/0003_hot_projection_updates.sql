-- Each saga event rewrites its saga's row. Indexing `updated_at`, which every event changes, made every such update
-- write a new entry into every index; with no index on a column the in-flight events change, and room left on
-- each page, PostgreSQL updates the row in place (a HOT update): only the final transition, which changes
-- `state`, touches the indexes. The stuck query scans the in-flight sagas, which are few, and sorts them.
DROP INDEX sagas_state;
CREATE INDEX sagas_in_flight ON sagas (saga_id) WHERE state IN ('running', 'compensating');
ALTER TABLE sagas SET (fillfactor = 70);
