-- Product sellers: which running process sells a product for every process that forwards its
-- purchases (`store/forward.rs`), so buyers of several processes share one commit. A claim is
-- renewed every half second by its holder; one not renewed for a few seconds (its process died)
-- may be taken by any other. It holds no stock: leases and `products.stock` stay the truth.
CREATE TABLE IF NOT EXISTS product_sellers (
    product_id INTEGER PRIMARY KEY REFERENCES products(id) ON DELETE CASCADE,
    -- The process: host, pid and a random part, fixed for the life of a store.
    holder VARCHAR(128) NOT NULL,
    -- host:port where it takes forwarded purchases, and the secret a forwarder shows first.
    address VARCHAR(256) NOT NULL,
    secret VARCHAR(64) NOT NULL,
    renewed_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
