-- Idempotency-Key support for the HTTP API; see the PostgreSQL migration of the same name. The
-- key's row is inserted in the purchase's own transaction, so it commits with the order.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 255),
    request_hash TEXT NOT NULL CHECK (length(request_hash) = 64),
    outcome TEXT NOT NULL CHECK (outcome IN ('purchased', 'sold_out', 'not_found')),
    order_id INTEGER REFERENCES orders(id),
    remaining_stock INTEGER,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    CHECK ((outcome = 'purchased') = (order_id IS NOT NULL))
);

CREATE INDEX IF NOT EXISTS idx_idempotency_keys_created_at ON idempotency_keys(created_at);
