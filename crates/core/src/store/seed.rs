//! The reference system's five products and a week of sample orders.

use crate::money::Money;

/// A product to seed.
pub struct SeedProduct {
    pub name: &'static str,
    pub description: &'static str,
    pub image_url: &'static str,
    pub stock: i32,
    pub price: Money,
}

/// The reference system's products, in id order.
pub const PRODUCTS: [SeedProduct; 5] = [
    SeedProduct {
        name: "Laptop Pro 15",
        description: "15-inch laptop with a high-resolution display",
        image_url: "/images/laptop.jpg",
        stock: 100,
        price: Money::from_cents(129_999),
    },
    SeedProduct {
        name: "Wireless Mouse",
        description: "Ergonomic wireless mouse",
        image_url: "/images/mouse.jpg",
        stock: 25,
        price: Money::from_cents(2_999),
    },
    SeedProduct {
        name: "Mechanical Keyboard",
        description: "Mechanical keyboard with tactile switches",
        image_url: "/images/keyboard.jpg",
        stock: 15,
        price: Money::from_cents(14_999),
    },
    SeedProduct {
        name: "4K Monitor",
        description: "27-inch 4K monitor",
        image_url: "/images/monitor.jpg",
        stock: 8,
        price: Money::from_cents(44_999),
    },
    SeedProduct {
        name: "USB-C Hub",
        description: "7-in-1 USB-C hub",
        image_url: "/images/hub.jpg",
        stock: 30,
        price: Money::from_cents(4_999),
    },
];

/// A sample order: which seeded product (0-based), how many, how many days ago, by whom.
pub struct SeedOrder {
    pub product: usize,
    pub quantity: i32,
    pub days_ago: i32,
    pub hour: i32,
    pub user: &'static str,
}

/// Sample orders spread over the last 7 days, so the revenue chart has a shape from the start.
pub const ORDERS: [SeedOrder; 10] = [
    SeedOrder {
        product: 0,
        quantity: 1,
        days_ago: 6,
        hour: 10,
        user: "seed_user_1",
    },
    SeedOrder {
        product: 1,
        quantity: 2,
        days_ago: 5,
        hour: 14,
        user: "seed_user_2",
    },
    SeedOrder {
        product: 2,
        quantity: 1,
        days_ago: 4,
        hour: 9,
        user: "seed_user_3",
    },
    SeedOrder {
        product: 1,
        quantity: 1,
        days_ago: 4,
        hour: 18,
        user: "seed_user_4",
    },
    SeedOrder {
        product: 3,
        quantity: 1,
        days_ago: 3,
        hour: 11,
        user: "seed_user_5",
    },
    SeedOrder {
        product: 4,
        quantity: 3,
        days_ago: 2,
        hour: 15,
        user: "seed_user_1",
    },
    SeedOrder {
        product: 0,
        quantity: 1,
        days_ago: 2,
        hour: 20,
        user: "seed_user_6",
    },
    SeedOrder {
        product: 2,
        quantity: 2,
        days_ago: 1,
        hour: 13,
        user: "seed_user_2",
    },
    SeedOrder {
        product: 4,
        quantity: 1,
        days_ago: 0,
        hour: 0,
        user: "seed_user_7",
    },
    SeedOrder {
        product: 1,
        quantity: 1,
        days_ago: 0,
        hour: 0,
        user: "seed_user_3",
    },
];

/// What `db seed` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SeedReport {
    pub products: usize,
    pub orders: usize,
    /// True when products already existed and nothing was inserted.
    pub already_seeded: bool,
}
