-- When the projection first showed a saga in a terminal state (this database's clock), and when its order was
-- written: together, how long a customer waited. Observational: a rebuild sets it again.
ALTER TABLE sagas ADD COLUMN observed_terminal_at timestamptz;
ALTER TABLE orders ALTER COLUMN created_at SET DEFAULT clock_timestamp();
