-- A restock by plain SQL (psql, the reference system, an admin tool) is heard at once by every
-- running process, as ours are: the trigger that drops the product's leases on such a write
-- also notifies `flashsale_restock` (`store/postgres/pg_restocks.rs`) when units are there to
-- sell. The notification goes out with the writer's commit, or not at all.
CREATE OR REPLACE FUNCTION flashsale_stock_set_elsewhere() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stock_leases WHERE product_id = NEW.id;
    IF NEW.stock > 0 THEN
        PERFORM pg_notify('flashsale_restock', NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;
