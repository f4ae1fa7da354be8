-- Orders started through `saga-tracker start`. The order id is the saga id and the idempotency key: starting it
-- twice starts one saga.
CREATE TABLE orders (
    order_id          text PRIMARY KEY,
    sku               text NOT NULL,
    quantity          integer NOT NULL,
    amount_cents      bigint NOT NULL,
    currency          text NOT NULL,
    customer_email    text NOT NULL,
    fail_payment      boolean NOT NULL,
    fail_confirmation boolean NOT NULL,
    event_id          uuid NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- Every saga event the tracker has seen, once per event id: the projection is derived from this set alone, so
-- any arrival order, and any duplicate, gives the same result.
CREATE TABLE saga_events (
    event_id      uuid PRIMARY KEY,
    saga_id       text NOT NULL,
    event_type    text NOT NULL,
    producer      text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    causation_id  uuid,
    payload       text NOT NULL
);
CREATE INDEX saga_events_saga ON saga_events (saga_id);

-- The projection: one row per saga, rewritten from saga_events whenever one of its events arrives.
CREATE TABLE sagas (
    saga_id          text PRIMARY KEY,
    state            text NOT NULL,
    current_step     text,
    waiting_for      text,
    started_at       timestamptz,
    updated_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    completed_steps  text[] NOT NULL,
    compensations    text[] NOT NULL,
    error            text,
    event_count      integer NOT NULL
);
CREATE INDEX sagas_state ON sagas (state, updated_at);
CREATE INDEX sagas_started ON sagas (started_at);
