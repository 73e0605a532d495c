-- Every order in silver has an id (reports use it as the key).
SELECT * FROM silver_orders
WHERE order_id IS NULL
