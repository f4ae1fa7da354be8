-- The failed-confirmation demo switch left the contracts (OrderPlaced v2): a failure is now Notification's own
-- fault option (--fail-confirmations, NOTIFICATION_FAIL_CONFIRMATIONS), matched on the order id when it dispatches,
-- so the order no longer carries it. The other columns keep the statistics targets of migration 0002.
ALTER TABLE orders DROP COLUMN fail_confirmation;
