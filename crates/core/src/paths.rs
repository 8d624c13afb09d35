//! Where flashsale keeps its files: the embedded database (data), `config.toml` and user themes
//! (config), and logs (state). Each can be moved with an environment variable, which tests and
//! packagers use.

use std::path::PathBuf;

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
