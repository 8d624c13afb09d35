//! The events pane's history: the last things that happened, newest last, bounded.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

/// Entries kept.
const CAPACITY: usize = 200;

/// How an entry is shown: a word as well as a colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Ok,
    Warn,
    Error,
}

impl Level {
    /// The word shown before the message.
    pub fn word(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Error => "ERROR",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub at: DateTime<Utc>,
    pub level: Level,
    pub text: String,
}

/// The history, and how far the user scrolled back.
#[derive(Debug, Clone, Default)]
pub struct Log {
    pub entries: VecDeque<LogEntry>,
    /// Entries hidden at the bottom (0: follow the newest).
    pub scroll: usize,
}

impl Log {
    pub fn push(&mut self, at: DateTime<Utc>, level: Level, text: impl Into<String>) {
        let text = text.into();
        tracing::info!(level = level.word(), "{text}");
        self.entries.push_back(LogEntry { at, level, text });
        while self.entries.len() > CAPACITY {
            self.entries.pop_front();
        }
        if self.scroll > 0 {
            // Keep the view where the user left it.
            self.scroll = (self.scroll + 1).min(self.entries.len().saturating_sub(1));
        }
    }
}
