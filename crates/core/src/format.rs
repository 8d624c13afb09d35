//! Small number formats shared by every face (the burst summary, the dashboard).

/// Milliseconds with sensible precision: `0.004`, `0.21`, `3.4`, `120`. Sub-10 µs figures
/// (sold-out answers from memory) keep a third decimal rather than showing as zero.
pub fn ms(v: f64) -> String {
    if v > 0.0 && v < 0.01 {
        format!("{v:.3}")
    } else if v < 1.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_keep_sensible_precision() {
        assert_eq!(ms(0.004), "0.004");
        assert_eq!(ms(0.0), "0.00");
        assert_eq!(ms(0.213), "0.21");
        assert_eq!(ms(3.44), "3.4");
        assert_eq!(ms(120.4), "120");
    }
}
