-- Stock leases: units of a product taken off `products.stock` by one running process, which
-- sells them without queueing on the product's row behind every other process (see
-- `store/postgres/pg_leases.rs`). The units available are always `products.stock` plus the
-- product's leases; a process returns its leases when idle or closing, so at rest
-- `products.stock` alone is exact. A lease not renewed for a few seconds (its process died)
-- is folded back by any other process, or by the next start.
CREATE TABLE IF NOT EXISTS stock_leases (
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    -- The process holding it: host, pid and a random part, fixed for the life of a store.
    holder VARCHAR(128) NOT NULL,
    units INTEGER NOT NULL CHECK (units >= 0),
    renewed_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (product_id, holder)
);

-- A write to `products.stock` by anyone else (plain SQL, the reference system, an admin tool)
-- sets the units available, as it always did: the leases of that product are dropped with it.
-- Our own statements mark themselves with the transaction-local setting `flashsale.writer`.
CREATE OR REPLACE FUNCTION flashsale_stock_set_elsewhere() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stock_leases WHERE product_id = NEW.id;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS products_stock_set_elsewhere ON products;
CREATE TRIGGER products_stock_set_elsewhere
    AFTER UPDATE OF stock ON products
    FOR EACH ROW
    WHEN (NEW.stock IS DISTINCT FROM OLD.stock
          AND current_setting('flashsale.writer', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION flashsale_stock_set_elsewhere();
