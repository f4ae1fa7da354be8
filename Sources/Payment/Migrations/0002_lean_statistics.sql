-- Charges, refunds and declines grow with every order and are read by order or charge id: lean statistics, as for
-- SagaKit's queues (migration 0004; the function is its 0005), keep their autoanalyze cheap.
SELECT sagakit_lean_statistics('charges');
SELECT sagakit_lean_statistics('refunds');
SELECT sagakit_lean_statistics('declines', ARRAY['reason']);
