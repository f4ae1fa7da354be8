-- What Notification keeps of an order: where to send the confirmation. The email lives here and in the
-- OrderPlaced event, nowhere else downstream.
CREATE TABLE orders (
    order_id          text PRIMARY KEY,
    customer_email    text NOT NULL,
    sku               text NOT NULL,
    quantity          integer NOT NULL,
    amount_cents      bigint NOT NULL,
    currency          text NOT NULL,
    fail_confirmation boolean NOT NULL DEFAULT false,
    received_at       timestamptz NOT NULL DEFAULT now()
);

-- One confirmation per order. `awaiting_order`: the payment was captured before OrderPlaced reached this
-- service (they travel on different topics); the confirmation goes out when the order arrives.
CREATE TABLE confirmations (
    order_id          text PRIMARY KEY,
    status            text NOT NULL CHECK (status IN ('awaiting_order', 'sent', 'failed')),
    message_id        text,
    reason            text,
    payment_event_id  uuid NOT NULL,
    amount_cents      bigint NOT NULL,
    currency          text NOT NULL,
    attempts          integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
