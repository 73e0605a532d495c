-- Gold's revenue adds up to silver's, per customer.
SELECT g.customer_id, g.total_revenue, s.revenue
FROM gold_customer_metrics AS g
FULL OUTER JOIN (
    SELECT customer_id, SUM(amount) AS revenue
    FROM silver_orders
    GROUP BY customer_id
) AS s ON g.customer_id <=> s.customer_id
WHERE NOT (g.total_revenue <=> s.revenue)
