//! Asking before a destructive step (`limits --reset`, `activity --cancel`): a y/N question on
//! a terminal, `--yes` for scripts, and a refusal, never a guess, when nobody can answer.

use std::io::{BufRead, IsTerminal, Write};

/// Whether to go ahead: `yes` (the flag) says so at once; otherwise `question` is asked on
/// stderr and a `y` or `yes` read from stdin. With no terminal on stdin, the refusal to give
/// (`flag` names the command: `limits --reset`).
pub fn confirm(question: &str, yes: bool, flag: &str) -> Result<bool, String> {
    if yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(format!(
            "{flag} asks before it acts, and stdin is not a terminal: add --yes to go ahead \
             without asking"
        ));
    }
    let mut err = std::io::stderr().lock();
    write!(err, "{question} [y/N] ")
        .and_then(|()| err.flush())
        .map_err(|e| format!("cannot ask on stderr: {e}"))?;
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
