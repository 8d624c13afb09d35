-- Idempotency-Key support for the HTTP API. A purchase made with a key inserts its row here in
-- the same transaction as the order, so "the order exists" and "the key points at it" commit
-- together: a client whose connection died around the commit retries and finds its order.
-- A second request with the same key hits the primary key and its whole purchase rolls back.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key VARCHAR(255) PRIMARY KEY,
    -- SHA-256 (hex) of the request's product, quantity and user: a reused key with another
    -- request is refused instead of replayed.
    request_hash CHAR(64) NOT NULL,
    outcome VARCHAR(16) NOT NULL CHECK (outcome IN ('purchased', 'sold_out', 'not_found')),
    order_id INTEGER REFERENCES orders(id),
    -- For 'purchased': the stock left after the order; for 'sold_out': the stock there was.
    remaining_stock INTEGER,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT idempotency_keys_order_iff_purchased CHECK ((outcome = 'purchased') = (order_id IS NOT NULL))
);

CREATE INDEX IF NOT EXISTS idx_idempotency_keys_created_at ON idempotency_keys(created_at);
