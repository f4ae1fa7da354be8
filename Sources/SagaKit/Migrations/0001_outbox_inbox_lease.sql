-- SagaKit's tables, in each service's own database.

-- Events waiting for (or kept after) publication. Rows are selected by `published_at IS NULL`, never by
-- "id greater than the last one seen": a transaction that took a lower id but committed later is still found.
CREATE TABLE sagakit_outbox (
    id            bigserial PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    topic         text NOT NULL,
    message_key   text NOT NULL,
    event_type    text NOT NULL,
    payload       text NOT NULL,           -- the envelope's JSON, published byte for byte
    traceparent   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    parked_at     timestamptz              -- the broker refused the row for good; an operator decides
);
CREATE INDEX sagakit_outbox_pending ON sagakit_outbox (id) WHERE published_at IS NULL AND parked_at IS NULL;
CREATE INDEX sagakit_outbox_published_at ON sagakit_outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX sagakit_outbox_created_at ON sagakit_outbox (created_at);

-- One row per event a consumer applied: written in the same transaction as the effect, so a redelivered event
-- is recognised and acknowledged without applying it again.
CREATE TABLE sagakit_inbox (
    consumer      text NOT NULL,
    event_id      uuid NOT NULL,
    event_type    text NOT NULL,
    saga_id       text NOT NULL,
    topic         text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset  bigint NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX sagakit_inbox_processed_at ON sagakit_inbox (processed_at);

-- The relay lease: one active relay per database. The holder renews it inside every transaction that marks
-- rows published, so a relay that lost the lease (paused, partitioned) cannot mark anything: it may publish a
-- duplicate, never lose a row.
CREATE TABLE sagakit_relay_lease (
    name        text PRIMARY KEY,
    holder      text,
    epoch       bigint NOT NULL DEFAULT 0,
    expires_at  timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO sagakit_relay_lease (name) VALUES ('outbox');
