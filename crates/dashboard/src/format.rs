//! Numbers, money, durations and names as the panes print them: short, aligned, exact where it
//! matters (money is exact to the cent in full form).

use std::time::Duration;

use unicode_width::UnicodeWidthStr;

use flashsale_core::money::Money;

/// `1234567` -> `1,234,567`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `3819.86` with thousands separators, exact.
pub fn money(m: Money) -> String {
    let cents = m.cents();
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", count((abs / 100) as i64), abs % 100)
}

/// `15.6k`, `1.2M`: for chart labels, where room is short.
pub fn money_short(m: Money) -> String {
    let v = m.cents() as f64 / 100.0;
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// A count in at most 5 characters: `999`, `12.3k`, `1.2M`.
pub fn count_short(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// A refresh period: `250ms`, `1s`.
pub fn duration(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

/// An age or a countdown: `12s`, `3m05s`, `2h10m`.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    }
}

pub use flashsale_core::format::ms;

/// `text` cut to `width` columns, with `…` when cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    for c in text.chars() {
        if out.width() + unicode_width::UnicodeWidthChar::width(c).unwrap_or(0) >= width {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// `text` broken at spaces into lines of at most `width` columns; a word longer than a line is
/// cut (the only case where a line ends mid-word).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    pack(text.split_whitespace(), " ", width)
}

/// `phrases` joined by `sep` into lines of at most `width` columns, a phrase never split across
/// lines unless it is longer than a line by itself (then it is broken at spaces, or cut). The
/// separator is dropped at line ends: `pack(["OVERSOLD by 9", "LOST 9 updates"], ", ", 20)`
/// gives the two phrases on two lines.
pub fn pack<'a>(
    phrases: impl IntoIterator<Item = &'a str>,
    sep: &str,
    width: usize,
) -> Vec<String> {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for phrase in phrases {
        if phrase.width() > width {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            if phrase.contains(' ') {
                lines.extend(wrap(phrase, width));
            } else {
                lines.push(fit(phrase, width));
            }
            continue;
        }
        if line.is_empty() {
            line = phrase.to_string();
        } else if line.width() + sep.width() + phrase.width() <= width {
            line.push_str(sep);
            line.push_str(phrase);
        } else {
            lines.push(std::mem::replace(&mut line, phrase.to_string()));
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_money() {
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(-1_000), "-1,000");
        assert_eq!(count(999), "999");
        assert_eq!(money(Money::from_cents(381_986)), "3,819.86");
        assert_eq!(money(Money::from_cents(5)), "0.05");
        assert_eq!(money_short(Money::from_cents(1_559_988)), "16k");
        assert_eq!(money_short(Money::from_cents(129_999)), "1.3k");
        assert_eq!(count_short(12_345), "12.3k");
    }

    #[test]
    fn durations_and_fitting() {
        assert_eq!(age(Duration::from_secs(185)), "3m05s");
        assert_eq!(duration(Duration::from_millis(250)), "250ms");
        assert_eq!(fit("Mechanical Keyboard", 10), "Mechanica…");
        assert_eq!(fit("Hub", 10), "Hub");
        assert_eq!(ms(0.213), "0.21");
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_packing_keeps_phrases_whole() {
        assert_eq!(
            wrap("database unreachable: cannot connect (is it running?)", 29),
            ["database unreachable: cannot", "connect (is it running?)"]
        );
        assert_eq!(wrap("Mechanical", 4), ["Mec…"]);
        assert_eq!(
            pack(["OVERSOLD by 38", "LOST 38 updates"], ", ", 29),
            ["OVERSOLD by 38", "LOST 38 updates"]
        );
        assert_eq!(pack(["b fire", "e edit"], "  ", 29), ["b fire  e edit"]);
        assert!(pack(Vec::<&str>::new(), " ", 10).is_empty());
    }
}
