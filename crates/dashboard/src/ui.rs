//! The root of drawing: a pure function of the state (and the theme and keymap it names). It
//! lays the panes out, draws each, then the overlay. No I/O, no clock: times come from the
//! state, so the same state always draws the same screen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::keymap::Keymap;
use super::layout;
use super::panes::activity::ActivityOverlay;
use super::panes::alerts::AlertsOverlay;
use super::panes::burst_history::BurstHistoryOverlay;
use super::panes::dialog::ConfirmDialog;
use super::panes::drill::DrillOverlay;
use super::panes::footer::Footer;
use super::panes::header::Header;
use super::panes::help::HelpOverlay;
use super::panes::limits::LimitsOverlay;
use super::panes::whole::WholeOverlay;
use super::panes::{Ctx, draw_pane};
use super::state::{Overlay, Pane, State};
use super::theme::Theme;

/// Draws the whole dashboard.
pub fn draw(frame: &mut Frame, state: &State, theme: &Theme, keymap: &Keymap) {
    let area = frame.area();
    frame.render_widget(Block::new().style(theme.base), area);
    let products = state.stock.value.as_ref().map_or(5, Vec::len);
    let Some(a) = layout::areas(area, products) else {
        return too_small(frame, area, theme);
    };
    let ctx = Ctx {
        state,
        theme,
        keymap,
        wide: a.wide,
    };
    let header = Header { ctx };
    header.draw(frame, a.header);
    header.draw_status(frame, a.status, a.alerts.is_none());
    if let Some(r) = a.alerts {
        header.draw_alerts(frame, r);
    }
    if state.zoom {
        draw_pane(ctx, state.focus, frame, layout::zoomed(&a));
    } else {
        for pane in Pane::ALL {
            draw_pane(ctx, pane, frame, a.of(pane));
        }
    }
    Footer { ctx }.draw(frame, a.footer);
    match &state.overlay {
        Some(Overlay::Help) => HelpOverlay { ctx }.draw(frame, area),
        Some(Overlay::Confirm(confirm)) => ConfirmDialog { ctx, confirm }.draw(frame, area),
        Some(Overlay::Whole { pane, scroll }) => WholeOverlay {
            ctx,
            pane: *pane,
            scroll: *scroll,
        }
        .draw(frame, area),
        Some(Overlay::Alerts { selected }) => AlertsOverlay {
            ctx,
            selected: *selected,
        }
        .draw(frame, area),
        Some(Overlay::Activity) => ActivityOverlay { ctx }.draw(frame, area),
        Some(Overlay::Limits) => LimitsOverlay { ctx }.draw(frame, area),
        Some(Overlay::Drill(drill)) => DrillOverlay { ctx, drill }.draw(frame, area),
        Some(Overlay::Bursts {
            selected,
            report,
            scroll,
        }) => BurstHistoryOverlay {
            ctx,
            selected: *selected,
            report: *report,
            scroll: *scroll,
        }
        .draw(frame, area),
        None => {}
    }
    super::theme::contrast::guard(frame.buffer_mut());
}

fn too_small(frame: &mut Frame, area: Rect, theme: &Theme) {
    let text = format!(
        "flashsale: {}x{} is too small; the dashboard needs {}x{} (80x24 is comfortable). q quits.",
        area.width,
        area.height,
        layout::MIN_WIDTH,
        layout::MIN_HEIGHT
    );
    frame.render_widget(
        Paragraph::new(Line::styled(text, theme.warn)).wrap(Wrap { trim: true }),
        area,
    );
}
