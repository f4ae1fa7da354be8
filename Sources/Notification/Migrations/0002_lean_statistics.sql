-- Orders and confirmations grow with every order and are read by order id: lean statistics, as for SagaKit's
-- queues (its migration 0004), keep their autoanalyze cheap.
SELECT sagakit_lean_statistics('orders');
SELECT sagakit_lean_statistics('confirmations', ARRAY['reason']);
