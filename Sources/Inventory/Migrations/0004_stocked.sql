-- Every unit ever put on sale: what `stock set` made the total, so that `available + reserved + fulfilled = stocked`
-- holds for each SKU whatever the sagas did, and `saga-check` can tell a unit created or lost from one sold. Rows
-- from before this migration start from their total now.
ALTER TABLE stock ADD COLUMN stocked integer;
UPDATE stock SET stocked = available + reserved + fulfilled;
ALTER TABLE stock ALTER COLUMN stocked SET NOT NULL;
