-- The demo switches left the contracts (OrderPlaced v2): a declined payment or a failed confirmation is now a
-- fault option of Payment or Notification, matched on the order id, so an order no longer records them. The
-- other columns keep the statistics targets of migration 0004.
ALTER TABLE orders DROP COLUMN fail_payment, DROP COLUMN fail_confirmation;
