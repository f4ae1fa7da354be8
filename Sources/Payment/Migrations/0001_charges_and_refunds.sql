-- At most one charge per order and one refund per charge: the keys make a second one impossible.
CREATE TABLE charges (
    order_id     text PRIMARY KEY,
    charge_id    uuid NOT NULL UNIQUE,
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    currency     text NOT NULL,
    status       text NOT NULL CHECK (status IN ('captured', 'refunded')),
    captured_at  timestamptz NOT NULL DEFAULT now(),
    refunded_at  timestamptz
);

CREATE TABLE refunds (
    refund_id    uuid PRIMARY KEY,
    charge_id    uuid NOT NULL UNIQUE REFERENCES charges (charge_id),
    order_id     text NOT NULL UNIQUE,
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    currency     text NOT NULL,
    refunded_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE declines (
    order_id     text PRIMARY KEY,
    amount_cents bigint NOT NULL,
    currency     text NOT NULL,
    reason       text NOT NULL,
    declined_at  timestamptz NOT NULL DEFAULT now()
);
