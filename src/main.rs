//! The `flashsale` binary: parses the command line, resolves settings, starts logging, and hands
//! off to the command. Errors end as one line on stderr and a non-zero exit code.

use std::process::ExitCode;

// The standard printing macros panic when the write fails: a closed pipe (`| head`) or a
// terminal that went away (a killed tmux session: EIO) would end the process with a panic
// report, or an abort when it happens while unwinding. These shadow them for the whole binary
// (macros are scoped by text: everything below sees these) and drop a failed write instead;
// the exit code still says how the command went.
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
macro_rules! print {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

mod cli;
mod logging;

use cli::{Command, dashboard, exit};

fn main() -> ExitCode {
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("flashsale: error: .env: {e}");
        return ExitCode::from(exit::USAGE);
    }
    let cli = cli::parse();
    let (mut settings, layer) = match cli.global.settings(|k| std::env::var(k).ok()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("flashsale: error: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    settings.pool.application_name = cli::application_name(cli.command.as_ref());
    let _log = logging::init(&flashsale_core::paths::log_file(), &settings.log);
    match &cli.command {
        Some(Command::Dashboard(args)) => dashboard::log_start(args, &settings, &layer),
        command => tracing::info!(
            database = %settings.database,
            command = command.as_ref().map_or("dashboard", |c| c.name()),
            "start"
        ),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flashsale: error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    ExitCode::from(runtime.block_on(cli::run::run(cli, settings, layer)))
}
