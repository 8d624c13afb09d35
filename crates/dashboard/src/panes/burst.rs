//! The burst pane: the parameters of the next burst (editable in place, validated as typed;
//! once a burst ran, with a line naming it above its figures), a progress gauge,
//! outcome counts, a throughput sparkline, latency percentiles, and the audit verdict, big: OK,
//! or OVERSOLD by N / LOST N updates. `naive` is shown in warning colours with the word UNSAFE.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Sparkline, Wrap};

mod summary;

use super::{Ctx, gauge_cells, kv};
use crate::action::Action;
use crate::format;
use crate::state::{BurstPhase, BurstRequest, Editor, Pane};
use flashsale_burst::{BurstReport, Progress};

pub struct BurstPane<'a> {
    pub ctx: Ctx<'a>,
}

impl<'a> BurstPane<'a> {
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let s = self.ctx.state;
        let block = self.ctx.block(Pane::Burst, "Burst", Vec::new());
        let inner = block.inner(area);
        frame.render_widget(block, area);
        if let Some(editor) = &s.burst.editor {
            return self.editor(frame, inner, editor);
        }
        match &s.burst.phase {
            BurstPhase::Idle => self.idle(frame, inner),
            BurstPhase::Running {
                request,
                progress,
                cancelling,
                ..
            } => self.running(frame, inner, request, progress, *cancelling),
            BurstPhase::Finished {
                request, report, ..
            } => self.finished(frame, inner, request, report),
            BurstPhase::Failed { error, .. } => {
                let t = self.ctx.theme;
                let mut lines = self.params_lines(None);
                lines.push(Line::styled(format!("burst failed: {error}"), t.critical));
                frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
            }
        }
    }

    fn strategy_span(&self, strategy: flashsale_core::strategy::Strategy) -> Span<'a> {
        let t = self.ctx.theme;
        if strategy.is_unsafe() && self.ctx.wide {
            Span::styled(format!(" {strategy} UNSAFE: oversells "), t.unsafe_strategy)
        } else if strategy.is_unsafe() {
            Span::styled(format!(" {strategy} UNSAFE "), t.unsafe_strategy)
        } else {
            Span::styled(strategy.to_string(), t.text)
        }
    }

    /// Target, sizes and strategy: of the request when one ran, else of the next burst.
    fn params_lines(&self, request: Option<&BurstRequest>) -> Vec<Line<'a>> {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let p = request.map_or(&s.burst.params, |r| &r.params);
        let target = match request {
            Some(r) => format!("{} (#{})", r.product_name, r.product_id),
            None => s
                .selected_product()
                .map_or("no product yet".to_string(), |p| {
                    format!("{} (#{})", p.name, p.id)
                }),
        };
        let ips = p.ips.map_or("1 per buyer".to_string(), |n| n.to_string());
        let mut target_line = vec![Span::styled("▶ ", t.muted), Span::styled(target, t.text)];
        if self.ctx.wide {
            let no_restock = s.conn.api.as_ref().is_some_and(|a| a.database.is_none());
            target_line.push(Span::styled(
                if no_restock {
                    "   restock needs --database-url".to_string()
                } else {
                    format!("   restock to {}", p.restock_to)
                },
                t.muted,
            ));
        }
        let mut sizes: Vec<Span> = Vec::new();
        sizes.extend(kv(t, "", format::count(i64::from(p.buyers))));
        sizes.extend(kv(t, " buyers ×", p.concurrency.to_string()));
        sizes.extend(kv(t, " qty ", p.quantity.to_string()));
        if self.ctx.wide {
            sizes.extend(kv(t, "  ip spread ", ips));
        }
        vec![
            Line::from(target_line),
            Line::from(sizes),
            Line::from(vec![
                Span::styled("strategy ", t.muted),
                if s.over_api() {
                    Span::styled(
                        s.server_strategy()
                            .map_or("the server's".to_string(), |name| {
                                format!("{name} (server's)")
                            }),
                        t.text,
                    )
                } else {
                    self.strategy_span(p.strategy)
                },
            ]),
        ]
    }

    fn idle(&self, frame: &mut Frame, area: Rect) {
        let (s, t) = (self.ctx.state, self.ctx.theme);
        let mut lines = self.params_lines(None);
        lines.push(Line::raw(""));
        if s.read_only {
            lines.push(Line::styled(
                if self.ctx.wide {
                    "read-only: bursts and restocks are disabled"
                } else {
                    "bursts disabled (read-only)"
                },
                t.muted,
            ));
        } else {
            let k = |a| self.ctx.keymap.keys(a);
            let mut hints = vec![(k(Action::Fire), "fire"), (k(Action::Edit), "edit")];
            if s.offers(Action::CycleStrategy) {
                hints.push((k(Action::CycleStrategy), "strategy"));
            }
            lines.extend(super::key_hints(t, &hints, area.width));
            if s.over_api() {
                lines.push(Line::styled("over HTTP; asks before firing", t.muted));
            } else {
                lines.push(Line::styled("asks before firing", t.muted));
            }
        }
        frame.render_widget(Paragraph::new(lines), area);
    }

    fn gauge_line(&self, p: &Progress, width: u16) -> Line<'a> {
        let t = self.ctx.theme;
        let label = format!(
            " {}/{} {:>3.0}%",
            p.completed,
            p.planned,
            p.fraction() * 100.0
        );
        let w = (width as usize).saturating_sub(label.len()).max(1);
        let (fill, rest) = gauge_cells(p.fraction(), w);
        Line::from(vec![
            Span::styled(fill, t.gauge),
            Span::styled(rest, t.muted),
            Span::styled(label, t.text),
        ])
    }

    fn outcome_lines(&self, c: &flashsale_burst::Counts) -> Vec<Line<'a>> {
        let t = self.ctx.theme;
        let err = if c.errors() > 0 { t.critical } else { t.text };
        let mut a: Vec<Span> = Vec::new();
        a.extend(kv(t, "bought ", format::count_short(c.purchased)));
        a.extend(kv(t, " sold out ", format::count_short(c.sold_out)));
        let limited = |label: &'static str| {
            [
                Span::styled(label, t.muted),
                Span::styled(format::count_short(c.rate_limited()), t.text),
            ]
        };
        let errors = [
            Span::styled(" busy ", t.muted),
            Span::styled(format::count_short(c.busy), err),
            Span::styled(" failed ", t.muted),
            Span::styled(format::count_short(c.failed), err),
        ];
        if self.ctx.wide {
            a.extend(limited(" limited "));
            a.extend(errors);
            a.extend(kv(t, " invalid ", format::count_short(c.invalid)));
            vec![Line::from(a)]
        } else {
            let mut b: Vec<Span> = limited("limited ").to_vec();
            b.extend(errors);
            vec![Line::from(a), Line::from(b)]
        }
    }

    fn sections(&self, area: Rect) -> [Rect; 6] {
        let wide = self.ctx.wide;
        Layout::vertical([
            Constraint::Length(3),
            Constraint::Length(1),
            Constraint::Length(if wide { 1 } else { 2 }),
            Constraint::Length(if wide { 3 } else { 1 }),
            Constraint::Length(1),
            Constraint::Fill(1),
        ])
        .areas(area)
    }

    fn sparkline(&self, frame: &mut Frame, area: Rect, label: String) {
        let t = self.ctx.theme;
        let label_w = (label.chars().count() as u16 + 1).min(area.width);
        let [spark, text] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Length(label_w)]).areas(area);
        let data: Vec<u64> = self.ctx.state.burst.throughput.iter().copied().collect();
        let shown = &data[data.len().saturating_sub(spark.width as usize)..];
        frame.render_widget(
            Sparkline::default()
                .data(shown.iter().copied())
                .style(t.sparkline),
            spark,
        );
        frame.render_widget(
            Paragraph::new(Span::styled(label, t.text)).alignment(Alignment::Right),
            text,
        );
    }

    fn running(
        &self,
        frame: &mut Frame,
        area: Rect,
        r: &BurstRequest,
        p: &Progress,
        cancelling: bool,
    ) {
        let t = self.ctx.theme;
        let [params, gauge, outcomes, spark, latency, verdict] = self.sections(area);
        frame.render_widget(Paragraph::new(self.params_lines(Some(r))), params);
        frame.render_widget(Paragraph::new(self.gauge_line(p, gauge.width)), gauge);
        frame.render_widget(Paragraph::new(self.outcome_lines(&p.counts)), outcomes);
        self.sparkline(frame, spark, format!("{:.0}/s", p.throughput_per_s));
        frame.render_widget(
            Paragraph::new(summary::latency_line(
                self.ctx,
                &p.latency_ms,
                latency.width,
            )),
            latency,
        );
        // Narrow: one row, so the short forms.
        let wide = self.ctx.wide;
        let line = if cancelling {
            Line::styled(
                if wide {
                    "cancelling: in-flight purchases finish, then the audit"
                } else {
                    "cancelling, then the audit"
                },
                t.warn,
            )
        } else {
            Line::from(vec![
                Span::styled("running ", t.info),
                Span::styled(format!("{:.1}s", p.elapsed.as_secs_f64()), t.text),
                Span::styled(
                    if wide {
                        " · audit after the run"
                    } else {
                        " · then audit"
                    },
                    t.muted,
                ),
            ])
        };
        frame.render_widget(Paragraph::new(line).wrap(Wrap { trim: true }), verdict);
    }

    fn finished(&self, frame: &mut Frame, area: Rect, r: &BurstRequest, report: &BurstReport) {
        let t = self.ctx.theme;
        let [params, gauge, outcomes, mut spark, mut latency, mut verdict] = self.sections(area);
        if !self.ctx.wide {
            // Narrow: the verdict matters more than the sparkline; it gets two rows.
            verdict = Rect {
                y: latency.y,
                height: verdict.height + 1,
                ..verdict
            };
            latency = spark;
            spark = Rect { height: 0, ..spark };
        }
        // The parameters are those `b` fires next (edited, retargeted, another strategy since);
        // the row under them says which burst the figures below are of.
        frame.render_widget(Paragraph::new(self.params_lines(None)), params);
        frame.render_widget(
            Paragraph::new(summary::last_line(self.ctx, r, report, gauge.width)),
            gauge,
        );
        let counts = flashsale_burst::Counts {
            purchased: report.purchased,
            sold_out: report.sold_out,
            not_found: report.not_found,
            rate_limited_user: report.rate_limited_user,
            rate_limited_ip: report.rate_limited_ip,
            invalid: report.invalid,
            busy: report.busy,
            failed: report.failed,
        };
        frame.render_widget(Paragraph::new(self.outcome_lines(&counts)), outcomes);
        if spark.height > 0 {
            self.sparkline(
                frame,
                spark,
                format!(
                    "{:.0}/s {:.1}s",
                    report.throughput_per_s,
                    report.duration_ms as f64 / 1000.0
                ),
            );
        }
        frame.render_widget(
            Paragraph::new(summary::latency_line(
                self.ctx,
                &report.latency_ms,
                latency.width,
            )),
            latency,
        );
        let (text, style, detail) = match (&report.audit, &report.audit_error) {
            (Some(a), _) => (
                if a.ok {
                    "AUDIT OK".to_string()
                } else {
                    a.verdict()
                },
                if a.ok { t.verdict_ok } else { t.verdict_bad },
                format!(
                    "stock {} → {}, {} units sold{}",
                    a.stock_before,
                    a.stock_after,
                    a.units_sold,
                    if report.cancelled > 0 {
                        format!(", {} cancelled", report.cancelled)
                    } else {
                        String::new()
                    }
                ),
            ),
            (None, e) => (
                "AUDIT NOT RUN".to_string(),
                t.warn.add_modifier(ratatui::style::Modifier::REVERSED),
                match &self.ctx.state.conn.api {
                    // Over the API alone there was never a database to audit against: say how
                    // to get one.
                    Some(api) if api.database.is_none() => "give --database-url to audit".into(),
                    _ => e.clone().unwrap_or_default(),
                },
            ),
        };
        self.verdict(frame, verdict, &text, style, &detail);
    }

    /// The verdict as a filled banner: three rows when there is room (the text on the middle
    /// one), else one row per phrase ("OVERSOLD by 9" / "LOST 9 updates"), a phrase never
    /// split unless it is wider than the pane.
    fn verdict(&self, frame: &mut Frame, area: Rect, text: &str, style: Style, detail: &str) {
        let t = self.ctx.theme;
        let text_lines = format::pack(text.split(", "), ", ", area.width as usize);
        let text_rows = (text_lines.len() as u16).max(1);
        let banner_h = if area.height >= 5 && text_rows == 1 {
            3
        } else {
            text_rows.min(area.height)
        };
        let [banner, rest] =
            Layout::vertical([Constraint::Length(banner_h), Constraint::Fill(1)]).areas(area);
        frame.render_widget(Block::new().style(style), banner);
        let inner = if banner_h == 3 && text_rows == 1 {
            Rect::new(banner.x, banner.y + 1, banner.width, 1)
        } else {
            banner
        };
        let lines: Vec<Line> = text_lines
            .into_iter()
            .map(|l| Line::styled(l, style))
            .collect();
        frame.render_widget(Paragraph::new(lines).alignment(Alignment::Center), inner);
        frame.render_widget(
            Paragraph::new(Span::styled(detail.to_string(), t.muted)).wrap(Wrap { trim: true }),
            rest,
        );
    }

    fn editor(&self, frame: &mut Frame, area: Rect, e: &Editor) {
        let t = self.ctx.theme;
        let target = self
            .ctx
            .state
            .selected_product()
            .map_or("no product".to_string(), |p| {
                format!("{} (#{})", p.name, p.id)
            });
        let mut lines = vec![Line::from(vec![
            Span::styled("▶ ", t.muted),
            Span::styled(target, t.text),
        ])];
        let label_w = 12;
        for (i, (field, text)) in e.fields.iter().enumerate() {
            let on = i == e.cursor;
            let error = e.error(i);
            let value_style = if error.is_some() {
                t.input_error
            } else if on {
                t.input
            } else {
                t.text
            };
            let mut spans = vec![
                Span::styled(if on { "›" } else { " " }, t.key),
                Span::styled(format!("{:<label_w$}", field.label()), t.muted),
                Span::styled(format!("{text}{}", if on { "▏" } else { "" }), value_style),
            ];
            if *field == crate::state::Field::Strategy
                && text
                    .trim()
                    .parse::<flashsale_core::strategy::Strategy>()
                    .is_ok_and(|s| s.is_unsafe())
            {
                spans.push(Span::styled(" UNSAFE", t.unsafe_strategy));
            }
            if let Some(err) = &error {
                // Narrow: a mark here, the words at the bottom.
                let shown = if self.ctx.wide {
                    format!(" ✖ {err}")
                } else {
                    " ✖".into()
                };
                spans.push(Span::styled(shown, t.input_error));
            } else if on && self.ctx.wide {
                spans.push(Span::styled(format!("  {}", field.hint()), t.muted));
            }
            lines.push(Line::from(spans));
        }
        let first_error = (0..e.fields.len()).find_map(|i| {
            e.error(i)
                .map(|err| format!("✖ {}: {err}", e.fields[i].0.label()))
        });
        if let (false, Some(err)) = (self.ctx.wide, first_error) {
            lines.push(Line::styled(err, t.input_error));
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
            return;
        }
        // As many rows as the pane's width needs (the footer lists every editor key too).
        let hints = [
            ("enter".to_string(), "apply"),
            ("esc".to_string(), "cancel"),
            ("↑↓".to_string(), "field"),
        ];
        lines.extend(super::key_hints(t, &hints, area.width));
        frame.render_widget(Paragraph::new(lines), area);
    }
}
