-- Reservations and rejections grow with every order and are read by order id: lean statistics, as for SagaKit's
-- queues (its migration 0004), keep their autoanalyze cheap.
SELECT sagakit_lean_statistics('reservations');
SELECT sagakit_lean_statistics('rejections', ARRAY['reason']);
