//! `flashsale stock [--product N [--orders K]] [--json]`: every product, or one with its latest
//! orders (the dashboard's drill-down, headless).

use std::fmt::Write as _;

use clap::Args;

use super::exit;
use super::output::{fail, print_json};
use flashsale_core::config::Settings;
use flashsale_core::model::Product;
use flashsale_core::store::recent::{RECENT_MAX, RecentOrder};

/// How many orders `--product` lists unless `--orders` says.
pub const DEFAULT_ORDERS: i64 = 10;

#[derive(Debug, Args)]
pub struct StockArgs {
    /// Print JSON: [{"id","name","price","stock"}]; with --product, that product's object with
    /// "recentOrders": [{"id","userId","quantity","totalPrice","status","createdAt"}].
    #[arg(long)]
    pub json: bool,
    /// One product, with its latest orders.
    #[arg(long, allow_negative_numbers = true)]
    pub product: Option<i64>,
    /// How many of its latest orders (with --product; 0 to 1000, default 10).
    #[arg(long, allow_negative_numbers = true)]
    pub orders: Option<i64>,
}

/// One product with its latest orders, newest first.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductOrders {
    #[serde(flatten)]
    pub product: Product,
    pub recent_orders: Vec<RecentOrder>,
}

/// The product id and order count asked for (`None`: every product), or what is wrong, naming
/// the flag.
pub fn check(args: &StockArgs) -> Result<Option<(i32, i64)>, String> {
    let Some(product) = args.product else {
        return match args.orders {
            Some(_) => Err("--orders needs --product N (the product whose orders)".into()),
            None => Ok(None),
        };
    };
    let id = i32::try_from(product)
        .ok()
        .filter(|id| *id >= 1)
        .ok_or_else(|| {
            format!(
                "--product {product}: a product id is a whole number from 1 to {}",
                i32::MAX
            )
        })?;
    let orders = args.orders.unwrap_or(DEFAULT_ORDERS);
    if !(0..=RECENT_MAX).contains(&orders) {
        return Err(format!(
            "--orders {orders}: a whole number from 0 to {RECENT_MAX}"
        ));
    }
    Ok(Some((id, orders)))
}

/// Runs `stock`: 0 when done, 2 for a bad flag, 3 when there is no such product, 1 when the
/// database failed.
pub async fn run(settings: &Settings, args: &StockArgs) -> u8 {
    let asked = match check(args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("flashsale: error: {e}");
            return exit::USAGE;
        }
    };
    let store = match super::db::open_existing(settings).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let Some((id, limit)) = asked else {
        let products = store.products().await;
        store.close().await;
        return match products {
            Ok(products) if args.json => print_json(&products).map_or_else(fail, |_| exit::OK),
            Ok(products) => {
                print!("{}", super::report::stock_text(&products));
                exit::OK
            }
            Err(e) => fail(e),
        };
    };
    let found = one(&store, id, limit).await;
    store.close().await;
    match found {
        Ok(Some(p)) if args.json => print_json(&p).map_or_else(fail, |_| exit::OK),
        Ok(Some(p)) => {
            print!("{}", text(&p));
            exit::OK
        }
        Ok(None) => {
            eprintln!("flashsale: error: no product {id} in {}", settings.database);
            exit::NOT_FOUND
        }
        Err(e) => fail(e),
    }
}

async fn one(
    store: &flashsale_core::store::Store,
    id: i32,
    limit: i64,
) -> Result<Option<ProductOrders>, flashsale_core::store::StoreError> {
    let Some(d) = store.product_detail(id).await? else {
        return Ok(None);
    };
    let recent_orders = store.recent_orders(id, limit).await?;
    Ok(Some(ProductOrders {
        product: Product {
            id: d.id,
            name: d.name,
            price: d.price,
            stock: d.stock,
        },
        recent_orders,
    }))
}

/// `#3 Mechanical Keyboard  price 149.99  stock 12`, then its orders as a table.
pub fn text(p: &ProductOrders) -> String {
    let pr = &p.product;
    let mut out = format!(
        "#{} {}  price {}  stock {}\n",
        pr.id, pr.name, pr.price, pr.stock
    );
    if p.recent_orders.is_empty() {
        out.push_str("no orders\n");
        return out;
    }
    let _ = writeln!(
        out,
        "\n{:>8}  {:<20} {:>5} {:>10}  {:<10} created (UTC)",
        "order", "user", "qty", "total", "status"
    );
    for o in &p.recent_orders {
        let _ = writeln!(
            out,
            "{:>8}  {:<20} {:>5} {:>10}  {:<10} {}",
            o.id,
            o.user_id,
            o.quantity,
            o.total_price.to_string(),
            o.status,
            o.created_at
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(product: Option<i64>, orders: Option<i64>) -> StockArgs {
        StockArgs {
            json: false,
            product,
            orders,
        }
    }

    #[test]
    fn bad_flags_are_named_with_their_bounds() {
        assert_eq!(check(&args(None, None)), Ok(None));
        assert_eq!(check(&args(Some(3), None)), Ok(Some((3, DEFAULT_ORDERS))));
        assert_eq!(check(&args(Some(3), Some(0))), Ok(Some((3, 0))));
        assert_eq!(
            check(&args(Some(-1), None)),
            Err("--product -1: a product id is a whole number from 1 to 2147483647".into())
        );
        assert_eq!(
            check(&args(Some(3), Some(1001))),
            Err("--orders 1001: a whole number from 0 to 1000".into())
        );
        assert!(check(&args(None, Some(3))).is_err());
    }
}
