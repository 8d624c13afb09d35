//! The real binary on a real terminal: a private tmux server running `flashsale` (launched
//! from a cleared environment, `TERM` its only addition) in one pane, keys typed one at a time,
//! the screen read back, and the terminal's state (`stty -a`, alternate screen, cursor) after it.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{flashsale, unique};

/// How long the dashboard may take to show its first screen on a loaded machine.
pub const START: Duration = Duration::from_secs(20);

/// A private tmux server running the dashboard in one pane, then `stty -a` into a file.
pub struct Tmux {
    socket: String,
    home: tempfile::TempDir,
}

impl Tmux {
    pub fn start(args: &[&str], env: &[(&str, &str)], width: u16, height: u16) -> Tmux {
        Tmux::start_after("", args, env, width, height)
    }

    /// Like [`Tmux::start`], the pane's shell first running `prelude` (output the shell screen
    /// should still show once the dashboard is gone).
    pub fn start_after(
        prelude: &str,
        args: &[&str],
        env: &[(&str, &str)],
        width: u16,
        height: u16,
    ) -> Tmux {
        let t = Tmux {
            socket: unique("fs_tmux_"),
            home: tempfile::tempdir().expect("tmp"),
        };
        t.launch(prelude, args, env, width, height);
        t
    }

    /// Runs the dashboard again in the same home (its database, state directory and files),
    /// after the last run ended ([`Tmux::wait_exit`]): as an operator restarting it.
    pub fn relaunch(&mut self, args: &[&str], env: &[(&str, &str)], width: u16, height: u16) {
        let _ = self.tmux().arg("kill-server").status();
        // A server of its own: the old one may still be going away.
        self.socket = unique("fs_tmux_");
        for f in ["exit", "stty"] {
            let _ = std::fs::remove_file(self.path(f));
        }
        self.launch("", args, env, width, height);
    }

    fn launch(&self, prelude: &str, args: &[&str], env: &[(&str, &str)], width: u16, height: u16) {
        let h = self.home.path().display().to_string();
        let mut dashboard = flashsale(self.home.path());
        dashboard
            .args(args)
            .envs(env.iter().copied())
            .env("TERM", "xterm-256color");
        let script = format!(
            "{prelude}{}; echo \"EXIT=$?\" > {h}/exit; stty -a > {h}/stty; sleep 120",
            shell_line(&dashboard)
        );
        let status = self
            .tmux()
            .args([
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
            ])
            .arg(format!("sh -c {}", shell_quote(&script)))
            .status()
            .expect("tmux is installed (scripts/test installs it)");
        assert!(status.success(), "tmux new-session failed");
    }

    pub fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    pub fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", "t"])
            .output()
            .expect("capture");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen with each cell's attributes as tmux writes them back (`capture-pane -e`):
    /// a colour keeps the encoding it was sent in (`31` stays `31`, `38;5;1` stays that).
    pub fn escaped(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-e", "-t", "t"])
            .output()
            .expect("capture");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen with each cell's attributes, parsed.
    pub fn styled(&self) -> Vec<super::sgr::Row> {
        super::sgr::parse(&self.escaped())
    }

    /// Resizes the window (and so the pane), as a user dragging the terminal's corner.
    pub fn resize(&self, width: u16, height: u16) {
        let ok = self
            .tmux()
            .args([
                "resize-window",
                "-t",
                "t",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
            ])
            .status()
            .expect("resize-window");
        assert!(ok.success());
    }

    pub fn format(&self, f: &str) -> String {
        let out = self
            .tmux()
            .args(["display", "-p", "-t", "t", f])
            .output()
            .expect("display");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            let ok = self
                .tmux()
                .args(["send-keys", "-t", "t", k])
                .status()
                .expect("send-keys");
            assert!(ok.success());
            // One key at a time, as a person types: each is its own event.
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    pub fn literal(&self, text: &str) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", "t", "-l", text])
            .status()
            .expect("send-keys");
        assert!(ok.success());
        std::thread::sleep(Duration::from_millis(60));
    }

    /// A left click on column `x`, row `y` (0-based, as ratatui counts), sent as the terminal
    /// reports it in the SGR mouse encoding: press, then release.
    pub fn click(&self, x: u16, y: u16) {
        self.mouse_report(&format!("\x1b[<0;{};{}M", x + 1, y + 1));
        self.mouse_report(&format!("\x1b[<0;{};{}m", x + 1, y + 1));
    }

    /// One wheel step at column `x`, row `y` (0-based): up or down.
    pub fn wheel(&self, x: u16, y: u16, up: bool) {
        let button = if up { 64 } else { 65 };
        self.mouse_report(&format!("\x1b[<{button};{};{}M", x + 1, y + 1));
    }

    /// The bytes of a mouse report, written to the pane's input as they are.
    fn mouse_report(&self, report: &str) {
        let hex: Vec<String> = report.bytes().map(|b| format!("{b:02x}")).collect();
        let ok = self
            .tmux()
            .args(["send-keys", "-t", "t", "-H"])
            .args(&hex)
            .status()
            .expect("send-keys -H");
        assert!(ok.success());
        std::thread::sleep(Duration::from_millis(60));
    }

    pub fn wait_for(&self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "'{text}' never appeared; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    /// Waits for the dashboard to end; its exit code and `stty -a` after it.
    pub fn wait_exit(&self) -> (String, String) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !(self.path("stty").exists()
            && std::fs::metadata(self.path("stty")).is_ok_and(|m| m.len() > 0))
        {
            assert!(
                Instant::now() < deadline,
                "the dashboard did not exit:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(100));
        let exit = std::fs::read_to_string(self.path("exit")).unwrap_or_default();
        let stty = std::fs::read_to_string(self.path("stty")).unwrap_or_default();
        (exit.trim().to_string(), stty)
    }

    /// The dashboard's pid: the child of the pane's shell.
    pub fn dashboard_pid(&self) -> u32 {
        let shell: u32 = self.format("#{pane_pid}").parse().expect("pane pid");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
                .unwrap_or_default();
            if let Some(pid) = children
                .split_whitespace()
                .next()
                .and_then(|p| p.parse().ok())
            {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "no dashboard process under the pane's shell"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

/// `cmd` (made by [`flashsale`], so its environment is cleared) as one shell line: `cd` to its
/// working directory, then `env -i` with exactly its variables, the program and its arguments.
fn shell_line(cmd: &Command) -> String {
    let dir = cmd
        .get_current_dir()
        .expect("flashsale() sets the working directory");
    let vars = cmd.get_envs().filter_map(|(k, v)| {
        let (k, v) = (k.to_str()?, v?.to_str()?);
        Some(shell_quote(&format!("{k}={v}")))
    });
    let words = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|w| shell_quote(&w.to_string_lossy()));
    format!(
        "cd {} && env -i {}",
        shell_quote(&dir.display().to_string()),
        vars.chain(words).collect::<Vec<_>>().join(" ")
    )
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The terminal is back to normal: cooked mode with echo, main screen, cursor shown, no mouse
/// reports.
pub fn assert_restored(t: &Tmux, stty: &str) {
    let words: Vec<&str> = stty.split_whitespace().collect();
    assert!(
        words.contains(&"icanon") && words.contains(&"echo"),
        "still raw: {stty}"
    );
    assert_eq!(
        t.format("#{alternate_on}"),
        "0",
        "still on the alternate screen"
    );
    assert_eq!(t.format("#{cursor_flag}"), "1", "cursor still hidden");
    assert_eq!(
        t.format("#{mouse_standard_flag}#{mouse_sgr_flag}"),
        "00",
        "the terminal still reports the mouse"
    );
}

/// The screen line (0-based) holding `text`.
pub fn line_with(screen: &str, text: &str) -> u16 {
    let i = screen
        .lines()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no line with '{text}':\n{screen}"));
    u16::try_from(i).expect("a screen line")
}
