//! Where flashsale keeps its files: the embedded database (data), `config.toml` and user themes
//! (config), and logs, the dashboard's preferences and exported bursts (state). Each can be
//! moved with an environment variable, which tests and packagers use. Files others read while
//! they change are written atomically ([`write_atomic`]).

use std::path::{Path, PathBuf};

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "flashsale")
}

fn from_env_or(var: &str, fallback: impl FnOnce() -> Option<PathBuf>) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => fallback().unwrap_or_else(|| PathBuf::from(".flashsale")),
    }
}

/// `$FLASHSALE_DATA_DIR`, else the platform data directory (`~/.local/share/flashsale`).
pub fn data_dir() -> PathBuf {
    from_env_or("FLASHSALE_DATA_DIR", || {
        project_dirs().map(|d| d.data_dir().to_path_buf())
    })
}

/// `$FLASHSALE_CONFIG_DIR`, else the platform config directory (`~/.config/flashsale`).
pub fn config_dir() -> PathBuf {
    from_env_or("FLASHSALE_CONFIG_DIR", || {
        project_dirs().map(|d| d.config_dir().to_path_buf())
    })
}

/// `$FLASHSALE_STATE_DIR`, else the platform state directory (`~/.local/state/flashsale`),
/// falling back to the data directory where the platform has no state directory.
pub fn state_dir() -> PathBuf {
    from_env_or("FLASHSALE_STATE_DIR", || {
        project_dirs().map(|d| {
            d.state_dir()
                .map(|p| p.to_path_buf())
                .unwrap_or_else(|| d.data_dir().to_path_buf())
        })
    })
}

/// The embedded database used when no `DATABASE_URL` is given.
pub fn embedded_database() -> PathBuf {
    data_dir().join("flashsale.db")
}

/// The config file read when `--config` is not given.
pub fn default_config_file() -> PathBuf {
    config_dir().join("config.toml")
}

/// The log file every command writes to.
pub fn log_file() -> PathBuf {
    state_dir().join("flashsale.log")
}

/// Where the dashboard saves the burst reports it exports (`w` in its burst list).
pub fn bursts_dir() -> PathBuf {
    state_dir().join("bursts")
}

/// The dashboard's preferences: the last burst parameters, the theme, the refresh rate.
pub fn prefs_file() -> PathBuf {
    state_dir().join("prefs.json")
}

/// The temporary file [`write_atomic`] writes `path` through: beside it (a rename does not
/// cross file systems), hidden, and named by this process so two writers do not share one.
pub fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes `bytes` to `path` whole or not at all: into [`temp_beside`], then renamed over
/// `path`, so a reader (or a crash mid-write) never sees half a file. The error names the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write as _;
    let tmp = temp_beside(path);
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_file_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("prefs.json");
        write_atomic(&path, b"first").expect("write");
        write_atomic(&path, b"second").expect("overwrite");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["prefs.json"], "no temporary left");
        let e = write_atomic(&dir.path().join("no/such/dir/x.json"), b"x").expect_err("no dir");
        assert!(e.contains("no/such/dir/x.json"), "names the path: {e}");
    }
}
