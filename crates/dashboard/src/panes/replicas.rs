//! The replicas of a deployment watched as a list (`--api A,B,C`), in the Pool pane's place
//! (over the API there is no pool to read): one row per replica, up or down and since when,
//! its strategy, purchases/s, error rate and p99 over the last minute. The figures are never
//! cut: columns are dropped, least needed first (strategy, since, p99), and the URL is what
//! gives way. Rows that do not fit end in "+N more", read with `v` or zoom.
//!
//! ```text
//!  ▶ Replicas 2/3 up ─────────
//!  10.0.0.5:3000  up  12/s 0.2%     (compact: state, /s, err%; !rdy: /api/ready 503)
//!  10.0.0.6:3000  DOWN at 12:30:01
//!  +1 more (v)
//! ```

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::Ctx;
use crate::format;
use crate::state::Pane;
use crate::state::replica_rows::Replica;

/// The narrowest the URL column gets before a figure column is dropped.
const URL_MIN: usize = 8;

/// One figure column: its heading, width, and what a live row shows in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    State,
    Since,
    Strategy,
    PerSec,
    Errors,
    P99,
}

impl Column {
    /// In display order.
    const ORDER: [Column; 6] = [
        Column::State,
        Column::Since,
        Column::Strategy,
        Column::PerSec,
        Column::Errors,
        Column::P99,
    ];
    /// Kept first when room is short.
    const PRIORITY: [Column; 6] = [
        Column::State,
        Column::PerSec,
        Column::Errors,
        Column::P99,
        Column::Since,
        Column::Strategy,
    ];

    fn heading(self) -> &'static str {
        match self {
            Column::State => "state",
            Column::Since => "since",
            Column::Strategy => "strategy",
            Column::PerSec => "buys/s",
            Column::Errors => "err%",
            Column::P99 => "p99",
        }
    }

    fn width(self) -> usize {
        match self {
            Column::State => 5,
            Column::Since => 8,
            Column::Strategy => 8,
            Column::PerSec => 6,
            Column::Errors => 5,
            Column::P99 => 6,
        }
    }
}

pub struct ReplicasPane<'a> {
    pub ctx: Ctx<'a>,
}

impl ReplicasPane<'_> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let (up, all) = s.replicas.up_count();
        let style = if up < all { t.critical } else { t.muted };
        let block = self.ctx.block(
            Pane::Pool,
            "Replicas",
            vec![Span::styled(format!("{up}/{all} up "), style)],
        );
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let width = usize::from(inner.width);
        let columns = columns(width);
        let url_width = width.saturating_sub(columns.iter().map(|c| c.width() + 1).sum::<usize>());
        let mut lines = Vec::new();
        let heading = self.ctx.wide;
        if heading {
            let mut spans = vec![Span::styled(pad("replica", url_width), t.muted)];
            for c in &columns {
                spans.push(Span::styled(
                    format!(" {:>w$}", c.heading(), w = c.width()),
                    t.muted,
                ));
            }
            lines.push(Line::from(spans));
        }
        let rows = usize::from(inner.height).saturating_sub(usize::from(heading));
        let n = s.replicas.rows.len();
        let shown = if n <= rows { n } else { rows.saturating_sub(1) };
        for r in s.replicas.rows.iter().take(shown) {
            lines.push(self.row(r, url_width, &columns));
        }
        if shown < n {
            lines.push(Line::styled(
                format!(
                    "+{} more ({} whole)",
                    n - shown,
                    self.ctx.keymap.keys(crate::action::Action::Whole)
                ),
                t.muted,
            ));
        }
        frame.render_widget(Paragraph::new(lines), inner);
    }

    fn row(&self, r: &Replica, url_width: usize, columns: &[Column]) -> Line<'static> {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let mut spans = vec![Span::styled(
            pad(&short_url(&r.url, url_width), url_width),
            t.text,
        )];
        let since = r
            .since
            .map(|w| s.local(w).format("%H:%M:%S").to_string())
            .unwrap_or_else(|| "—".into());
        let live = r.live();
        let down = r.up == Some(false);
        for c in columns {
            let w = c.width();
            let (text, style): (String, Style) = match c {
                Column::State => match (r.up, live.and_then(|x| x.ready)) {
                    (None, _) => ("…".into(), t.muted),
                    (Some(false), _) => ("DOWN".into(), t.critical),
                    (Some(true), Some(false)) => ("!rdy".into(), t.warn),
                    (Some(true), _) => ("up".into(), t.ok),
                },
                Column::Since => (since.clone(), if down { t.critical } else { t.muted }),
                Column::Strategy => (
                    r.reading
                        .as_ref()
                        .and_then(|x| x.strategy())
                        .unwrap_or("—")
                        .to_string(),
                    t.text,
                ),
                // A down replica's figures are not current; without a since column, where
                // they would be: since when it is down.
                _ if down => {
                    if !columns.contains(&Column::Since) {
                        spans.push(Span::styled(format!(" at {since}"), t.critical));
                        break;
                    }
                    (String::new(), t.muted)
                }
                Column::PerSec => (
                    live.and_then(|x| x.purchases_per_sec())
                        .map_or_else(|| "—".into(), |v| format!("{}/s", per_sec(v))),
                    t.text,
                ),
                Column::Errors => match live.and_then(|x| x.error_rate_percent()) {
                    Some(e) if e > s.thresholds.error_rate_percent => (percent(e), t.critical),
                    Some(e) => (percent(e), t.text),
                    None => ("—".into(), t.muted),
                },
                Column::P99 => (
                    live.and_then(|x| x.p99_ms).map_or_else(|| "—".into(), p99),
                    t.text,
                ),
            };
            spans.push(Span::styled(format!(" {text:>w$}"), style));
        }
        Line::from(spans)
    }
}

/// The columns that fit `width` beside a URL of at least [`URL_MIN`], in display order.
fn columns(width: usize) -> Vec<Column> {
    let mut used = URL_MIN;
    let mut kept = Vec::new();
    for c in Column::PRIORITY {
        if used + c.width() < width {
            used += c.width() + 1;
            kept.push(c);
        }
    }
    Column::ORDER
        .into_iter()
        .filter(|c| kept.contains(c))
        .collect()
}

/// The URL in `width` columns, told apart from its neighbours: without `http://`; then the
/// host's first label alone (`app1:3000` for `app1.internal:3000`); then its start and its end
/// (the port) around a `…`.
fn short_url(url: &str, width: usize) -> String {
    let text = url.strip_prefix("http://").unwrap_or(url);
    let fits = |t: &str| t.chars().count() <= width;
    if fits(text) {
        return text.to_string();
    }
    let host_end = text.find([':', '/']).unwrap_or(text.len());
    let host = &text[..host_end];
    let named = host.contains(|c: char| c.is_ascii_alphabetic()) && !host.starts_with('[');
    if let Some(dot) = host.find('.').filter(|_| named) {
        let short = format!("{}{}", &host[..dot], &text[host_end..]);
        if fits(&short) {
            return short;
        }
    }
    let chars: Vec<char> = text.chars().collect();
    if width < 5 {
        return format::fit(text, width);
    }
    let tail = width - 4;
    let head: String = chars.iter().take(3).collect();
    let end: String = chars[chars.len().saturating_sub(tail)..].iter().collect();
    format!("{head}…{end}")
}

/// An error rate in at most 5 columns: `0.2%`, `12.5%`, `100%`.
fn percent(e: f64) -> String {
    if e >= 99.95 {
        "100%".into()
    } else {
        format!("{e:.1}%")
    }
}

fn pad(text: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthStr;
    let w = text.width();
    format!("{text}{}", " ".repeat(width.saturating_sub(w)))
}

/// Purchases per second in at most 5 columns: `0.4`, `12`, `3456`, `123k`, `1.2M`.
fn per_sec(v: f64) -> String {
    if v < 9.95 {
        format!("{v:.1}")
    } else if v < 9_999.5 {
        format!("{v:.0}")
    } else if v < 999_500.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v < 9_950_000.0 {
        format!("{:.1}M", v / 1e6)
    } else {
        format!("{:.0}M", v / 1e6)
    }
}

/// A bucket's bound: `≤25ms`, `≤2.5s`.
fn p99(ms: f64) -> String {
    if ms < 1000.0 && ms.fract() == 0.0 {
        format!("≤{ms:.0}ms")
    } else if ms < 1000.0 {
        format!("≤{ms}ms")
    } else {
        format!("≤{:.1}s", ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_shorten_to_what_tells_them_apart() {
        assert_eq!(
            short_url("http://app1.internal:3000", 30),
            "app1.internal:3000"
        );
        assert_eq!(short_url("http://app1.internal:3000", 10), "app1:3000");
        assert_eq!(short_url("http://127.0.0.1:3001", 10), "127…1:3001");
        assert_eq!(short_url("http://10.0.0.11:3000", 11), "10.…11:3000");
        assert_eq!(short_url("http://10.0.0.11:3000", 3), "10…");
    }

    #[test]
    fn figures_fit_their_columns_and_columns_fit_the_room() {
        for v in [
            0.0, 0.44, 9.96, 12.0, 9_999.0, 9_999.7, 12_345.0, 999_000.0, 999_700.0, 5e7,
        ] {
            assert!(
                per_sec(v).len() + 2 <= Column::PerSec.width(),
                "{v}: {}",
                per_sec(v)
            );
        }
        assert_eq!(per_sec(12_345.0), "12k");
        assert_eq!(per_sec(9.96), "10");
        assert_eq!(p99(25.0), "≤25ms");
        assert_eq!(p99(2.5), "≤2.5ms");
        assert_eq!(p99(2500.0), "≤2.5s");
        assert_eq!(percent(99.96), "100%");
        assert_eq!(percent(12.34), "12.3%");
        // 80x24: the right column's 29: state, purchases/s and errors beside the URL.
        assert_eq!(columns(29), [Column::State, Column::PerSec, Column::Errors]);
        let wide = columns(60);
        assert_eq!(wide, Column::ORDER.to_vec(), "all of them: {wide:?}");
        assert_eq!(columns(5), Vec::<Column>::new());
    }
}
