-- Refunds are not orders: silver keeps positive amounts only.
SELECT * FROM IDENTIFIER(:catalog || '.' || :schema || '.silver_orders')
WHERE amount <= 0
