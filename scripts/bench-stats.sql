-- The dashboard's stats refresh against a 1,000,000-order table: a full recount (what the
-- reference's admin endpoint and `flashsale stats` do) versus the incremental poll.
--   createdb fs_bench_inc && psql -d fs_bench_inc -f scripts/bench-stats.sql; dropdb fs_bench_inc
\i migrations/postgres/0001_schema.sql
INSERT INTO products (name, stock, price) SELECT 'p' || g, 100, 10 FROM generate_series(1, 5) g;
INSERT INTO orders (user_id, product_id, quantity, total_price, created_at)
  SELECT 'u', 1 + g % 5, 1, 10, now() - (g % 600000) * interval '1 second'
  FROM generate_series(1, 1000000) g;
ANALYZE orders;
\echo full recount: totals, per product, last 7 days
EXPLAIN (ANALYZE, TIMING OFF) SELECT COALESCE((SUM(total_price) * 100)::int8, 0), COALESCE(SUM(quantity), 0)::int8 FROM orders;
EXPLAIN (ANALYZE, TIMING OFF) SELECT product_id, SUM(quantity)::int8, (SUM(total_price) * 100)::int8 FROM orders GROUP BY product_id;
EXPLAIN (ANALYZE, TIMING OFF) SELECT to_char(created_at, 'YYYY-MM-DD') AS day, (SUM(total_price) * 100)::int8, SUM(quantity)::int8 FROM orders WHERE created_at >= now() - interval '7 days' GROUP BY day;
\echo incremental poll (store::postgres::ORDERS_SINCE_SQL): 50 new rows, 20 watched ids, then MAX(id)
EXPLAIN (ANALYZE, TIMING OFF) (SELECT id::int8 AS id, product_id, quantity, (total_price * 100)::int8 AS cents, to_char(created_at, 'YYYY-MM-DD') AS day FROM orders WHERE id > 999950 ORDER BY id LIMIT 5000) UNION ALL (SELECT id::int8, product_id, quantity, (total_price * 100)::int8, to_char(created_at, 'YYYY-MM-DD') FROM orders WHERE id = ANY(ARRAY(SELECT generate_series(999900, 999919))));
EXPLAIN (ANALYZE, TIMING OFF) SELECT COALESCE(MAX(id), 0)::int8 FROM orders;
