-- The testbed's effect: one row per application of a ping. No unique key on purpose, so a second application
-- of the same event would show as a second row.
CREATE TABLE testbed_effects (
    id          bigserial PRIMARY KEY,
    event_id    uuid NOT NULL,
    saga_id     text NOT NULL,
    sequence    integer NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX testbed_effects_event ON testbed_effects (event_id);
