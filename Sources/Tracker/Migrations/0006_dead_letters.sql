-- Every dead letter on the saga's `.dlq` topics, whichever service refused it, projected by the tracker's own
-- dead-letter consumer: what `saga-tracker status` counts per saga and `saga-tracker dead-letters` lists. Keyed
-- by the dead letter's coordinates, so reading a topic again changes nothing. No payload: like the logs, this
-- table must not hold customers' data.
CREATE TABLE dead_letters (
    dlq_topic         text NOT NULL,
    dlq_partition     integer NOT NULL,
    dlq_offset        bigint NOT NULL,
    saga_id           text,             -- the envelope's saga_id when the value is one, else the message key
    service           text NOT NULL,    -- the refusing service (sagakit-dlq-service)
    consumer          text NOT NULL,
    reason            text NOT NULL,
    source_topic      text NOT NULL,
    source_partition  integer NOT NULL,
    source_offset     bigint NOT NULL,
    message_key       text,
    event_type        text,
    event_id          uuid,
    dead_lettered_at  timestamptz,      -- sagakit-dlq-time
    recorded_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)
);
CREATE INDEX dead_letters_saga ON dead_letters (saga_id) WHERE saga_id IS NOT NULL;
CREATE INDEX dead_letters_recorded ON dead_letters (recorded_at);
