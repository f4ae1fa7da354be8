-- saga-check at scale: one million finished order sagas as the services record them, a quarter per scenario
-- (completed; compensated after a failed confirmation; compensated after a decline; failed on stock), planted in
-- four databases migrated by the services' own `migrate`. Run with psql -v db=<role>, one part per database:
--   psql $INVENTORY_DATABASE_URL -v part=inventory -f this.sql    (likewise payment, notification, tracker)
-- then time `saga-check --require-terminal` against them (docs/RELIABILITY.md has the figures).
\set n 1000000
\if :{?part}
\else
  \echo 'set part to inventory, payment, notification or tracker'
  \quit
\endif
SELECT :'part' = 'inventory' AS is_inventory, :'part' = 'payment' AS is_payment,
       :'part' = 'notification' AS is_notification, :'part' = 'tracker' AS is_tracker \gset
\if :is_inventory
INSERT INTO stock (sku, available, reserved, fulfilled, stocked) VALUES ('bulk', 10000000 - :n / 4, 0, :n / 4, 10000000);
INSERT INTO reservations (order_id, sku, quantity, status)
SELECT format('BULK-%s', lpad(i::text, 7, '0')), 'bulk', 1, CASE WHEN i % 4 = 0 THEN 'fulfilled' ELSE 'released' END
FROM generate_series(0, :n - 1) i WHERE i % 4 <> 3;
INSERT INTO rejections (order_id, sku, quantity, reason)
SELECT format('BULK-%s', lpad(i::text, 7, '0')), 'bulk', 20000000, 'not enough stock' FROM generate_series(0, :n - 1) i WHERE i % 4 = 3;
ANALYZE stock, reservations, rejections;
\endif
\if :is_payment
INSERT INTO charges (order_id, charge_id, amount_cents, currency, status)
SELECT format('BULK-%s', lpad(i::text, 7, '0')), gen_random_uuid(), 1000 + i % 9000, 'USD', CASE WHEN i % 4 = 0 THEN 'captured' ELSE 'refunded' END
FROM generate_series(0, :n - 1) i WHERE i % 4 IN (0, 1);
INSERT INTO refunds (refund_id, charge_id, order_id, amount_cents, currency)
SELECT gen_random_uuid(), charge_id, order_id, amount_cents, currency FROM charges WHERE status = 'refunded';
INSERT INTO declines (order_id, amount_cents, currency, reason)
SELECT format('BULK-%s', lpad(i::text, 7, '0')), 1000 + i % 9000, 'USD', 'declined' FROM generate_series(0, :n - 1) i WHERE i % 4 = 2;
ANALYZE charges, refunds, declines;
\endif
\if :is_notification
INSERT INTO confirmations (order_id, status, payment_event_id, amount_cents, currency)
SELECT format('BULK-%s', lpad(i::text, 7, '0')), CASE WHEN i % 4 = 0 THEN 'sent' ELSE 'failed' END, gen_random_uuid(), 1000 + i % 9000, 'USD'
FROM generate_series(0, :n - 1) i WHERE i % 4 IN (0, 1);
ANALYZE confirmations;
\endif
\if :is_tracker
INSERT INTO orders (order_id, sku, quantity, amount_cents, currency, customer_email, event_id)
SELECT format('BULK-%s', lpad(i::text, 7, '0')), 'bulk', CASE WHEN i % 4 = 3 THEN 20000000 ELSE 1 END, 1000 + i % 9000, 'USD',
       'buyer@example.com', gen_random_uuid()
FROM generate_series(0, :n - 1) i;
INSERT INTO sagas (saga_id, state, started_at, updated_at, finished_at, completed_steps, compensations, event_count)
SELECT format('BULK-%s', lpad(i::text, 7, '0')), CASE i % 4 WHEN 0 THEN 'completed' WHEN 3 THEN 'failed' ELSE 'compensated' END,
       now(), now(), now(), '{}', '{}', 4
FROM generate_series(0, :n - 1) i;
ANALYZE orders, sagas;
\endif
