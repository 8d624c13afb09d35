//! What wakes the loop besides the samplers and the burst: the terminal's keys, clicks and
//! resizes, and the signals that end the dashboard.

use crossterm::event::MouseEventKind;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::event::Event;

/// Terminal input as events; ends when the terminal does. Without `mouse`, mouse reports are
/// dropped even if they come (a terminal left reporting by an earlier program).
pub(super) async fn read_input(tx: mpsc::Sender<Event>, mouse: bool) {
    let mut events = crossterm::event::EventStream::new();
    while let Some(ev) = events.next().await {
        let ev = match ev {
            Ok(crossterm::event::Event::Key(k)) => Event::Key(k),
            Ok(crossterm::event::Event::Resize(w, h)) => Event::Resize(w, h),
            // Presses and the wheel; releases and drags would only wake the loop.
            Ok(crossterm::event::Event::Mouse(m))
                if mouse
                    && matches!(
                        m.kind,
                        MouseEventKind::Down(_)
                            | MouseEventKind::ScrollUp
                            | MouseEventKind::ScrollDown
                    ) =>
            {
                Event::Mouse(m)
            }
            Ok(_) => continue,
            Err(e) => {
                tracing::error!(error = %e, "terminal input failed");
                break;
            }
        };
        if tx.send(ev).await.is_err() {
            break;
        }
    }
}

/// SIGTERM, SIGINT and SIGHUP end the dashboard cleanly (the guard restores the terminal).
pub(super) async fn signals(tx: mpsc::Sender<Event>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        _ = hup.recv() => "SIGHUP",
    };
    let _ = tx.send(Event::Signal(name)).await;
}
