-- Refunds are not orders: silver keeps positive amounts only.
SELECT * FROM silver_orders
WHERE amount <= 0
