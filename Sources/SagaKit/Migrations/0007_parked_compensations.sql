-- Compensations that failed for good (a refund the provider rejected, a release that cannot apply), parked by the
-- consumer in the transaction that emitted the failure event, so the row and the event cannot disagree. They wait
-- for an operator: `<service> compensations retry` runs the handler again, `skip` records the decision not to.
-- Rows are kept once resolved: with the audit log they are the record of what happened to the compensation.
CREATE TABLE sagakit_parked_compensations (
    id              bigserial PRIMARY KEY,
    consumer        text NOT NULL,
    compensation    text NOT NULL,           -- refund_payment, release_inventory
    saga_id         text NOT NULL,
    event_id        uuid NOT NULL,           -- the triggering event's
    event_type      text NOT NULL,
    topic           text NOT NULL,           -- where it was read
    envelope        text NOT NULL,           -- the triggering event as it arrived, to run the compensation again
    reason          text NOT NULL,           -- the last failure's
    attempts        int NOT NULL DEFAULT 1,
    parked_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    status          text NOT NULL DEFAULT 'parked' CHECK (status IN ('parked', 'retried', 'skipped')),
    resolved_at     timestamptz,
    resolved_by     text,
    resolution      text,                    -- a skip's reason, in the operator's words
    UNIQUE (consumer, compensation, event_id)
);
CREATE INDEX sagakit_parked_compensations_open ON sagakit_parked_compensations (id) WHERE status = 'parked';
CREATE INDEX sagakit_parked_compensations_saga ON sagakit_parked_compensations (saga_id);
