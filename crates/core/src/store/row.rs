//! Rows read by name into structs, for both engines. The one thing sqlx's `FromRow` derive did
//! for us; written as a declarative macro so that the build has no procedural macro pulling a
//! second, host-side copy of sqlx and its drivers (see BENCHMARKS.md, "First build").

/// Declares a struct and implements `sqlx::FromRow` for it on any engine whose rows can decode
/// every field's type: each field is read from the column of the same name.
macro_rules! from_row {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$field_meta:meta])* $field_vis:vis $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$field_meta])* $field_vis $field: $ty),*
        }

        impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for $name
        where
            &'r str: sqlx::ColumnIndex<R>,
            $($ty: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,)*
        {
            fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
                Ok(Self {
                    $($field: row.try_get(stringify!($field))?),*
                })
            }
        }
    };
}

pub(crate) use from_row;

/// A product as both engines list it: id, name, price in cents, units available.
pub(crate) type ProductRow = (i32, String, i64, i32);

pub(crate) fn product((id, name, cents, stock): ProductRow) -> crate::model::Product {
    crate::model::Product {
        id,
        name,
        price: crate::money::Money::from_cents(cents),
        stock,
    }
}
