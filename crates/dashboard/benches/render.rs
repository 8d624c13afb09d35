//! Time to draw one full frame of the dashboard from a filled state (fixture data, a burst
//! running), at 80x24 and 200x60, through ratatui's TestBackend (layout, every pane, the diff
//! against the previous frame; no terminal I/O). `cargo bench --bench render`.

use std::time::{Duration, Instant};

use flashsale_core::strategy::Strategy;
use flashsale_dashboard::{fixture, ui};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn measure(w: u16, h: u16, frames: usize) -> Vec<Duration> {
    let mut app = fixture::app(Instant::now());
    fixture::running(&mut app, Strategy::Atomic);
    let mut term = match Terminal::new(TestBackend::new(w, h)) {
        Ok(t) => t,
        Err(e) => match e {},
    };
    let mut times = Vec::with_capacity(frames);
    for i in 0..frames + 200 {
        // Change something each frame, as live data does, so the diff has work to do.
        if let flashsale_dashboard::state::BurstPhase::Running { progress, .. } =
            &mut app.state.burst.phase
        {
            progress.completed = (i % 200) as u64;
        }
        app.state.burst.push_throughput((i % 97) as f64 * 10.0);
        let start = Instant::now();
        let drawn = term.draw(|f| ui::draw(f, &app.state, app.theme(), &app.keymap));
        let took = start.elapsed();
        if drawn.is_err() {
            break;
        }
        if i >= 200 {
            times.push(took);
        }
    }
    times.sort();
    times
}

fn main() {
    println!(
        "full-frame render, fixture state with a burst running ({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    for (w, h) in [(80, 24), (200, 60)] {
        let t = measure(w, h, 5_000);
        let pct = |p: f64| t[((t.len() as f64 * p) as usize).min(t.len() - 1)];
        let mean = t.iter().sum::<Duration>() / t.len() as u32;
        println!(
            "{w}x{h}: mean {:>6.1} µs  p50 {:>6.1} µs  p99 {:>6.1} µs  max {:>6.1} µs  ({} frames)",
            mean.as_secs_f64() * 1e6,
            pct(0.5).as_secs_f64() * 1e6,
            pct(0.99).as_secs_f64() * 1e6,
            t[t.len() - 1].as_secs_f64() * 1e6,
            t.len()
        );
    }
}
