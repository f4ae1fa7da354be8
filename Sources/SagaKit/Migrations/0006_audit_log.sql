-- What operators did to this service's saga machinery: redrove a dead letter, retried or skipped a parked
-- compensation. Who, when, what, why, and how it ended. Append-only: SagaKit never updates or deletes a row.
CREATE TABLE sagakit_audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor      text NOT NULL,           -- who: --by, else SAGAKIT_OPERATOR, else the OS user; "console:<name>" from the console
    action     text NOT NULL,           -- dead_letter.redrive, compensation.retry, compensation.skip
    target     text NOT NULL,           -- what: a dead letter's coordinates, a parked compensation's id
    saga_id    text,
    reason     text,                    -- why, in the operator's words (required for a skip)
    outcome    text NOT NULL,           -- done, failed: <error>, ...
    detail     text NOT NULL DEFAULT '{}',  -- JSON object of strings: what else the action knew
    request_id text UNIQUE              -- a request that arrived as a message (the console's): acted on once
);
CREATE INDEX sagakit_audit_log_saga ON sagakit_audit_log (saga_id) WHERE saga_id IS NOT NULL;
