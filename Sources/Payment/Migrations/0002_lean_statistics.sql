-- Charges, refunds and declines grow with every order and are read by order or charge id: lean statistics, as for
-- SagaKit's queues (its migration 0004), keep their autoanalyze cheap.
SELECT sagakit_lean_statistics('charges');
SELECT sagakit_lean_statistics('refunds');
SELECT sagakit_lean_statistics('declines', ARRAY['reason']);
