//! `flashsale restock --product N --stock S`: one product's stock set, and what it replaced.

use clap::Args;

use super::exit;
use super::output::{fail, print_json};
use flashsale_core::config::Settings;
use flashsale_core::store::Restock;

/// The largest stock a restock sets: the dashboard's restock-to bound. Past it is a typo (a
/// digit too many), not a sale.
pub const MAX_STOCK: i64 = 1_000_000;

#[derive(Debug, Args)]
pub struct RestockArgs {
    /// Product id.
    #[arg(long, allow_negative_numbers = true)]
    pub product: i64,
    /// The units available after the restock (0 to 1000000); replaces the stock, leases
    /// included.
    #[arg(long, allow_negative_numbers = true)]
    pub stock: i64,
    /// Print JSON: {"productId","name","stock","previousStock"}.
    #[arg(long)]
    pub json: bool,
}

/// The product id and stock, or what is wrong with them, naming the flag.
pub fn check(args: &RestockArgs) -> Result<(i32, i32), String> {
    let product = i32::try_from(args.product)
        .ok()
        .filter(|id| *id >= 1)
        .ok_or_else(|| {
            format!(
                "--product {}: a product id is a whole number from 1 to {}",
                args.product,
                i32::MAX
            )
        })?;
    let stock = Some(args.stock)
        .filter(|s| (0..=MAX_STOCK).contains(s))
        .and_then(|s| i32::try_from(s).ok())
        .ok_or_else(|| {
            format!(
                "--stock {}: the stock must be a whole number from 0 to {MAX_STOCK}",
                args.stock
            )
        })?;
    Ok((product, stock))
}

/// Runs `restock`: 0 when done, 2 for a bad flag, 3 when there is no such product (nothing
/// changed: the code `buy` gives for one), 1 when the database failed.
pub async fn run(settings: &Settings, args: &RestockArgs) -> u8 {
    let (product, stock) = match check(args) {
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
    let done = store.restock(product, stock).await;
    store.close().await;
    match done {
        Ok(Some(restock)) if args.json => print_json(&restock).map_or_else(fail, |_| exit::OK),
        Ok(Some(restock)) => {
            println!("{}", text(&restock));
            exit::OK
        }
        Ok(None) => {
            eprintln!(
                "flashsale: error: no product {product} in {}: nothing restocked",
                settings.database
            );
            exit::NOT_FOUND
        }
        Err(e) => fail(e),
    }
}

/// `restocked #3 Mechanical Keyboard: stock 0 -> 100`.
pub fn text(r: &Restock) -> String {
    format!(
        "restocked #{} {}: stock {} -> {}",
        r.product_id, r.name, r.previous_stock, r.stock
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(product: i64, stock: i64) -> RestockArgs {
        RestockArgs {
            product,
            stock,
            json: false,
        }
    }

    #[test]
    fn bad_flags_are_named_with_their_bounds() {
        assert_eq!(check(&args(3, 100)), Ok((3, 100)));
        assert_eq!(check(&args(3, 0)), Ok((3, 0)));
        assert_eq!(
            check(&args(0, 5)),
            Err("--product 0: a product id is a whole number from 1 to 2147483647".into())
        );
        assert_eq!(
            check(&args(3, -1)),
            Err("--stock -1: the stock must be a whole number from 0 to 1000000".into())
        );
        assert_eq!(
            check(&args(3, 1_000_001)),
            Err("--stock 1000001: the stock must be a whole number from 0 to 1000000".into())
        );
    }
}
