-- No query reads reservations by status, and the index cost more than it gave: every status change is a
-- non-HOT update that adds an entry to it, and under load the planner picked it for the fulfilment update
-- (`order_id = ANY(...) AND status = 'reserved'`), wading through every dead 'reserved' entry left since the last
-- vacuum (34 ms per batch at 600 sagas/s instead of a primary-key lookup per order).
DROP INDEX IF EXISTS reservations_status;
