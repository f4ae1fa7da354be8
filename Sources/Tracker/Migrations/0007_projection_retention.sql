-- Retention (ProjectionRetention) removes finished sagas by when the projection saw them finish, oldest first: this
-- index finds them without reading the sagas still in view. Only the terminal transition, which changes `state`
-- and so is never a HOT update, adds an entry; compensation_failed sagas wait for an operator and are not purged.
CREATE INDEX sagas_purgeable ON sagas (observed_terminal_at) WHERE state IN ('completed', 'compensated', 'failed');
