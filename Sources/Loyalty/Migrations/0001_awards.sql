-- One row per order, whatever is redelivered: the key makes a second award impossible. A revoked award keeps its
-- row, so a late or replayed PaymentCaptured finds it and awards nothing.
CREATE TABLE awards (
    order_id   text PRIMARY KEY,
    charge_id  text NOT NULL,
    points     bigint NOT NULL CHECK (points >= 0),
    status     text NOT NULL CHECK (status IN ('awarded', 'revoked')),
    awarded_at timestamptz,  -- null when the refund came first and nothing was awarded
    revoked_at timestamptz
);
-- It grows with every saga and is read by key: lean planner statistics keep its autoanalyze cheap, as SagaKit's
-- own outbox and inbox have (the function is SagaKit's, applied before these migrations).
SELECT sagakit_lean_statistics('awards');
