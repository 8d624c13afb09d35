//! The drill-down of one product (`enter` on a Stock row): which product, how far its orders
//! are scrolled, and the restock target being typed; and the orders fetched for it.

use flashsale_core::store::recent::RecentOrder;

/// How many latest orders the drill-down asks for.
pub const DRILL_ORDERS: i64 = 50;
/// The largest stock the typed restock target takes (as the burst editor's restock-to).
pub const RESTOCK_MAX: i32 = 1_000_000;

/// The drill-down open on a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drill {
    pub product_id: i32,
    /// Orders scrolled past at the top of the list.
    pub scroll: usize,
    /// The restock target being typed (`r`); `None` when not typing.
    pub typing: Option<String>,
}

impl Drill {
    pub fn new(product_id: i32) -> Drill {
        Drill {
            product_id,
            scroll: 0,
            typing: None,
        }
    }
}

/// A product's latest orders, newest first, as last fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentOrders {
    pub product_id: i32,
    pub orders: Vec<RecentOrder>,
}
