-- Reservations and rejections grow with every order and are read by order id: lean statistics, as for SagaKit's
-- queues (migration 0004; the function is its 0005), keep their autoanalyze cheap.
SELECT sagakit_lean_statistics('reservations');
SELECT sagakit_lean_statistics('rejections', ARRAY['reason']);
