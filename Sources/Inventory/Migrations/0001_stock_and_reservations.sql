-- Stock per SKU. available + reserved + fulfilled only changes when an operator sets stock; the saga moves units
-- between the three columns. The checks make a negative count impossible, whatever the code does.
CREATE TABLE stock (
    sku         text PRIMARY KEY,
    available   integer NOT NULL CHECK (available >= 0),
    reserved    integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    fulfilled   integer NOT NULL DEFAULT 0 CHECK (fulfilled >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One reservation per order, whatever happens to it: the order id is the business idempotency key.
CREATE TABLE reservations (
    order_id     text PRIMARY KEY,
    sku          text NOT NULL REFERENCES stock (sku),
    quantity     integer NOT NULL CHECK (quantity > 0),
    status       text NOT NULL CHECK (status IN ('reserved', 'released', 'fulfilled')),
    reserved_at  timestamptz NOT NULL DEFAULT now(),
    released_at  timestamptz,
    fulfilled_at timestamptz
);
CREATE INDEX reservations_status ON reservations (status);

CREATE TABLE rejections (
    order_id     text PRIMARY KEY,
    sku          text NOT NULL,
    quantity     integer NOT NULL,
    reason       text NOT NULL,
    rejected_at  timestamptz NOT NULL DEFAULT now()
);
