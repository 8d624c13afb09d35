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

/// Which entries the Events pane shows (`f` steps through them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LevelFilter {
    #[default]
    All,
    /// Warnings and errors.
    Warnings,
    Errors,
}

impl LevelFilter {
    pub fn next(self) -> LevelFilter {
        match self {
            LevelFilter::All => LevelFilter::Warnings,
            LevelFilter::Warnings => LevelFilter::Errors,
            LevelFilter::Errors => LevelFilter::All,
        }
    }

    pub fn admits(self, level: Level) -> bool {
        match self {
            LevelFilter::All => true,
            LevelFilter::Warnings => matches!(level, Level::Warn | Level::Error),
            LevelFilter::Errors => level == Level::Error,
        }
    }

    /// The pane title's note; `None` when every entry shows.
    pub fn note(self) -> Option<&'static str> {
        match self {
            LevelFilter::All => None,
            LevelFilter::Warnings => Some("warn+"),
            LevelFilter::Errors => Some("errors"),
        }
    }
}

/// The history, and how far the user scrolled back.
#[derive(Debug, Clone, Default)]
pub struct Log {
    pub entries: VecDeque<LogEntry>,
    /// Shown entries hidden at the bottom (0: follow the newest).
    pub scroll: usize,
    pub filter: LevelFilter,
}

impl Log {
    pub fn push(&mut self, at: DateTime<Utc>, level: Level, text: impl Into<String>) {
        let text = text.into();
        tracing::info!(level = level.word(), "{text}");
        self.entries.push_back(LogEntry { at, level, text });
        while self.entries.len() > CAPACITY {
            self.entries.pop_front();
        }
        if self.scroll > 0 && self.filter.admits(level) {
            // Keep the view where the user left it.
            self.scroll = (self.scroll + 1).min(self.shown_len().saturating_sub(1));
        }
    }

    /// The entries the filter admits, oldest first.
    pub fn shown(&self) -> impl DoubleEndedIterator<Item = &LogEntry> {
        self.entries.iter().filter(|e| self.filter.admits(e.level))
    }

    pub fn shown_len(&self) -> usize {
        self.shown().count()
    }

    /// Steps the filter; the view follows the newest again.
    pub fn next_filter(&mut self) {
        self.filter = self.filter.next();
        self.scroll = 0;
    }
}
