-- Two per-key costs of a keyed purchase taken out (BENCHMARKS.md, "Keyed purchases"):
--
-- * The foreign key `idempotency_keys.order_id -> orders(id)` ran one trigger per key row, a
--   lookup of the order the same statement had just written beside it. Every 'purchased' key
--   is written by the statement (or transaction) that writes its order, so the reference holds
--   by construction; partitioned orders already run without it (no foreign key can reference
--   them). A key whose order was deleted by hand is reported as such when it is replayed.
-- * The B-tree on `created_at` served only the expiry sweep. Keys are written in time order,
--   so a BRIN index (one summary per range of pages, updated rarely) finds the expired ones as
--   well, at a fraction of the write cost.
DO $$
DECLARE
    c RECORD;
BEGIN
    FOR c IN
        SELECT conname FROM pg_constraint
        WHERE contype = 'f'
          AND conrelid = 'idempotency_keys'::regclass
          AND confrelid = 'orders'::regclass
    LOOP
        EXECUTE format('ALTER TABLE idempotency_keys DROP CONSTRAINT %I', c.conname);
    END LOOP;
END
$$;

DROP INDEX IF EXISTS idx_idempotency_keys_created_at;
CREATE INDEX IF NOT EXISTS idx_idempotency_keys_created_at_brin
    ON idempotency_keys USING brin (created_at);
