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

/// A size as PostgreSQL's `pg_size_pretty` counts it (1024 to a kB): `512 B`, `1.5 kB`,
/// `48 MB`; one decimal below 10 of a unit.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        // Rounded as printed: 1023.96 kB would read 1024 kB.
        if v.round() < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = next;
    }
    if v < 9.95 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.0} {unit}")
    }
}

/// `v` with a unit (`255.6k`, `1.3M`, `12G`) in at most `width` columns, the most decimals
/// that fit; `None` when even the shortest form does not.
fn abbreviated(v: f64, width: usize) -> Option<String> {
    const UNITS: [(&str, f64); 5] = [("", 1.0), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)];
    let a = v.abs();
    for (unit, scale) in UNITS {
        // The unit whose figure stays below 1000 once rounded (999.96k is 1.0M, not 1000.0k).
        if a / scale >= 999.5 && unit != "T" {
            continue;
        }
        for decimals in [2usize, 1, 0] {
            let text = format!("{:.*}{unit}", decimals, v / scale);
            if text.width() <= width {
                return Some(text);
            }
        }
        return None;
    }
    None
}

/// A count in `width` columns, never cut: `1,234,567`, else `1234567`, else abbreviated with
/// its unit (`1.23M`, `1.2M`, `1M`). Only when not even that fits (under 4 columns) is the
/// shortest form returned wider than asked: a layout must give counts 4 columns.
pub fn fit_count(n: i64, width: usize) -> String {
    let full = count(n);
    if full.width() <= width {
        return full;
    }
    let plain = n.to_string();
    if plain.width() <= width {
        return plain;
    }
    abbreviated(n as f64, width)
        .or_else(|| abbreviated(n as f64, 5))
        .unwrap_or(plain)
}

/// Money in `width` columns, never cut: `1,299.99`, else `1299.99`, else rounded with its unit
/// (`1.30k`, `1.3k`, `255.6k`, `1.3M`). A layout must give money 5 columns.
pub fn fit_money(m: Money, width: usize) -> String {
    let full = money(m);
    if full.width() <= width {
        return full;
    }
    let v = m.cents() as f64 / 100.0;
    let plain = format!("{v:.2}");
    if plain.width() <= width {
        return plain;
    }
    abbreviated(v, width)
        .or_else(|| abbreviated(v, 6))
        .unwrap_or(plain)
}

/// The value a number on screen stands for, and how far from it the data may be: exact for a
/// full form, within the rounding of the last digit shown for an abbreviated one. What tests
/// use to check every number on screen against the data it came from.
pub fn read_number(text: &str) -> Option<(f64, f64)> {
    let text = text.trim();
    let (digits, scale) = match text.chars().last()? {
        'k' => (&text[..text.len() - 1], 1e3),
        'M' => (&text[..text.len() - 1], 1e6),
        'G' => (&text[..text.len() - 1], 1e9),
        'T' => (&text[..text.len() - 1], 1e12),
        _ => (text, 1.0),
    };
    let digits = digits.replace(',', "");
    let v: f64 = digits.parse().ok()?;
    let decimals = digits.split('.').nth(1).map_or(0, str::len) as i32;
    let half_step = 0.5 * 10f64.powi(-decimals) * scale;
    Some((v * scale, half_step))
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

/// `text` in `width` columns, cut only between words, with `…` when cut: a number (or a path,
/// a name) in it is shown whole or not at all. A first word wider than `width` alone is cut
/// as [`fit`] cuts.
pub fn fit_words(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    // The last word boundary that leaves a column for the `…`; the width before a boundary
    // only grows, so the first one past it ends the search.
    let mut end = None;
    for (i, _) in text.char_indices().filter(|(_, c)| c.is_whitespace()) {
        let before = text[..i].trim_end();
        if before.width() >= width {
            break;
        }
        end = Some(before.len());
    }
    match end {
        Some(e) if e > 0 => format!("{}…", &text[..e]),
        _ => fit(text, width),
    }
}

/// A query on one line: its newlines and runs of spaces as one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` broken at spaces into lines of at most `width` columns; a word longer than a line is
/// cut (the only case where a line ends mid-word).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    pack(text.split_whitespace(), " ", width)
}

/// [`wrap`], but a word longer than a line (a file's path) is broken across lines instead of
/// cut: every character of `text` is kept.
pub fn wrap_whole(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut words: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let mut piece = String::new();
        for c in word.chars() {
            let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
            if !piece.is_empty() && piece.width() + w > width {
                words.push(std::mem::take(&mut piece));
            }
            piece.push(c);
        }
        words.push(piece);
    }
    pack(words.iter().map(String::as_str), " ", width)
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
    use unicode_width::UnicodeWidthStr;

    use super::fit_words;

    #[test]
    fn fit_words_never_cuts_inside_a_word() {
        let text = "restocked product 3 from 1250 to 250000";
        assert_eq!(fit_words(text, 80), text);
        assert_eq!(fit_words(text, text.len()), text);
        // 35 columns would end inside "250000": the number goes whole.
        assert_eq!(fit_words(text, 35), "restocked product 3 from 1250 to…");
        assert_eq!(fit_words(text, 31), "restocked product 3 from 1250…");
        assert_eq!(fit_words(text, 30), "restocked product 3 from 1250…");
        assert_eq!(fit_words(text, 29), "restocked product 3 from…");
        for w in 1..text.len() {
            let fitted = fit_words(text, w);
            assert!(fitted.width() <= w, "{w}: {fitted:?}");
        }
        assert_eq!(fit_words("unbreakable", 5), "unbr…");
    }

    #[test]
    fn wrap_whole_breaks_a_long_path_and_keeps_every_character() {
        let text = "saved: /home/someone/.local/state/flashsale/bursts/20261203T090742Z-p1-batched.json and b.txt";
        let lines = super::wrap_whole(text, 20);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        let joined: String = lines.concat();
        let squeezed: String = text.split_whitespace().collect();
        assert_eq!(joined.replace(' ', ""), squeezed, "nothing cut: {lines:?}");
        assert_eq!(lines[0], "saved:");
    }

    use super::*;

    #[test]
    fn numbers_that_do_not_fit_are_abbreviated_with_a_unit_never_cut() {
        assert_eq!(fit_count(255_625, 9), "255,625");
        assert_eq!(fit_count(255_625, 6), "255625");
        assert_eq!(fit_count(255_625, 5), "256k");
        assert_eq!(fit_count(255_625, 4), "256k");
        assert_eq!(fit_count(300_100, 6), "300100");
        assert_eq!(fit_count(10_002, 4), "10k");
        assert_eq!(fit_count(1_299_999, 6), "1.30M");
        assert_eq!(fit_count(1_299_999, 4), "1.3M");
        assert_eq!(fit_count(9_999_999, 4), "10M");
        assert_eq!(fit_count(999_960, 5), "1.00M");
        assert_eq!(fit_money(Money::from_cents(129_999), 8), "1,299.99");
        assert_eq!(fit_money(Money::from_cents(129_999), 5), "1.30k");
        assert_eq!(fit_money(Money::from_cents(2_999), 5), "29.99");
        assert_eq!(fit_money(Money::from_cents(103_273_200), 8), "1.03M");
        assert_eq!(fit_money(Money::from_cents(25_562_500), 6), "255.6k");
        for n in [0i64, 7, 99_999, 1_000_000, 9_999_999, 123_456_789_012] {
            for w in 4..12 {
                let shown = fit_count(n, w);
                assert!(shown.width() <= w, "{n} in {w}: {shown}");
                let (v, tolerance) = read_number(&shown).expect("a number");
                assert!((v - n as f64).abs() <= tolerance, "{n} in {w}: {shown}");
            }
        }
    }

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
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 kB");
        assert_eq!(bytes(48 * 1024 * 1024), "48 MB");
        assert_eq!(bytes(1024 * 1024 - 1), "1.0 MB");
        assert_eq!(bytes(u64::MAX), "16384 PB");
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
