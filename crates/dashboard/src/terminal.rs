//! The terminal is borrowed, and given back whatever happens: raw mode and the alternate
//! screen are entered by [`TerminalGuard::enter`] and left by its `Drop`, by the panic hook, and
//! so on every way out (quit, Ctrl-C, SIGTERM, error, panic). Frames are drawn inside a
//! synchronized update so a slow link (SSH) never shows half a frame.

use std::io::{self, Stdout};
use std::mem::ManuallyDrop;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::cursor::{Hide, MoveTo, Show};
use crossterm::execute;
use crossterm::terminal::{
    BeginSynchronizedUpdate, Clear, ClearType, EndSynchronizedUpdate, EnterAlternateScreen,
    LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::layout::Size;

mod sgr_backend;
use sgr_backend::SgrBackend;

/// Whether we hold the terminal (so restoring twice is harmless).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// Gives the terminal back: raw mode off, cursor shown, alternate screen left. Idempotent.
///
/// The alternate screen is emptied, cursor home, before it is left: tmux (3.3a), leaving an
/// alternate screen whose size changed since it was entered (80x24 grown to 120x40), shrinks it
/// back to the old size first and carries what it still holds into the shell's screen, so a
/// dozen dashboard lines stayed there over the earlier output. An empty screen carries nothing.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(
            io::stdout(),
            EndSynchronizedUpdate,
            Clear(ClearType::All),
            MoveTo(0, 0),
            ClickReports(false),
            LeaveAlternateScreen,
            Show
        );
    }
}

/// A panic restores the terminal before the report is printed, then ends the process: a panic
/// in any task is a bug, and a dashboard that keeps running without its screen helps nobody.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let was_active = ACTIVE.load(Ordering::SeqCst);
            restore();
            // The backtrace in the log too: the terminal may be gone (the report on stderr
            // then reaches nobody).
            let backtrace = std::backtrace::Backtrace::force_capture();
            tracing::error!(panic = %info, %backtrace, "panic");
            previous(info);
            if was_active {
                std::process::exit(101);
            }
        }));
    });
}

/// The terminal, in raw mode on the alternate screen, for as long as this lives.
pub struct TerminalGuard {
    /// Never dropped: ratatui's `Drop` shows the cursor and, when that write fails, reports it
    /// with `eprintln!`, which panics when stderr fails too (a terminal that went away: EIO),
    /// and a panic there, during the exit, aborts. [`restore`] shows the cursor instead,
    /// ignoring a dead terminal; what is left unfreed is one screen's buffers, at exit.
    terminal: ManuallyDrop<Terminal<SgrBackend<Stdout>>>,
}

impl TerminalGuard {
    /// Takes the terminal; with `mouse`, it reports clicks and the wheel.
    pub fn enter(mouse: bool) -> io::Result<TerminalGuard> {
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let mut stdout = io::stdout();
        let entered = execute!(stdout, EnterAlternateScreen, Hide).and_then(|()| {
            if mouse {
                execute!(stdout, ClickReports(true))
            } else {
                Ok(())
            }
        });
        if let Err(e) = entered {
            restore();
            return Err(e);
        }
        let terminal = match Terminal::new(SgrBackend::new(stdout)) {
            Ok(t) => ManuallyDrop::new(t),
            Err(e) => {
                restore();
                return Err(e);
            }
        };
        let mut guard = TerminalGuard { terminal };
        guard.terminal.clear()?;
        Ok(guard)
    }

    /// Draws one frame as one synchronized update.
    pub fn draw(&mut self, f: impl FnOnce(&mut ratatui::Frame)) -> io::Result<()> {
        execute!(
            self.terminal.backend_mut().writer_mut(),
            BeginSynchronizedUpdate
        )?;
        let drawn = self.terminal.draw(f).map(|_| ());
        execute!(
            self.terminal.backend_mut().writer_mut(),
            EndSynchronizedUpdate
        )?;
        drawn
    }

    pub fn size(&self) -> io::Result<Size> {
        self.terminal.size()
    }
}

/// Mouse reports of presses, releases and the wheel (mode 1000) in the SGR encoding (1006),
/// which has no coordinate limit. Not crossterm's `EnableMouseCapture`: that also asks for
/// every motion (1003), a report per cell the pointer crosses, over SSH too, for nothing we use.
struct ClickReports(bool);

impl crossterm::Command for ClickReports {
    fn write_ansi(&self, f: &mut impl std::fmt::Write) -> std::fmt::Result {
        f.write_str(if self.0 {
            "\x1b[?1000h\x1b[?1006h"
        } else {
            "\x1b[?1006l\x1b[?1000l"
        })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}
