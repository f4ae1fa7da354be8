-- Retention (ProjectionRetention) removes finished sagas by when the projection saw them finish, oldest first: this
-- index finds them without reading the sagas still in view. Only the terminal transition, which changes `state`
-- and so is never a HOT update, adds an entry; compensation_failed sagas wait for an operator and are not purged.
CREATE INDEX sagas_purgeable ON sagas (observed_terminal_at) WHERE state IN ('completed', 'compensated', 'failed');

-- How far retention has removed finished sagas from the view: saga-check takes an order older than this whose saga
-- row is gone, and whose participants' records show it finished, for one retention removed, not one the tracker
-- never saw.
CREATE TABLE projection_retention (
    name           text PRIMARY KEY,
    purged_before  timestamptz NOT NULL
);

-- Sagas that finished before migration 0002 have no observed_terminal_at: their retention starts now.
UPDATE sagas SET observed_terminal_at = clock_timestamp()
WHERE state IN ('completed', 'compensated', 'failed') AND observed_terminal_at IS NULL;
