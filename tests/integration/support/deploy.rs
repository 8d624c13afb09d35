//! The files of `deploy/`, as the tests run them: read from the repository, with the
//! production addresses swapped for the test's own. Each swap must find its text exactly once,
//! so a deploy file edited out from under a test fails it, naming the line it looked for,
//! instead of being run half-substituted.

use std::path::{Path, PathBuf};

/// `deploy/<name>` in this repository.
pub fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name)
}

/// The text of `deploy/<name>`.
pub fn read(name: &str) -> String {
    let p = path(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// `text` (of `deploy/<name>`) with each `(from, to)` replaced; every `from` must occur
/// exactly once.
pub fn swap(name: &str, text: &str, swaps: &[(&str, String)]) -> String {
    let mut out = text.to_string();
    for (from, to) in swaps {
        let n = out.matches(from).count();
        assert_eq!(
            n, 1,
            "deploy/{name} should contain {from:?} exactly once (found {n}): the test swaps it \
             for {to:?}; update the test with the file"
        );
        out = out.replacen(from, to, 1);
    }
    out
}

/// A systemd service unit, read as far as starting its process goes.
#[derive(Debug, Clone)]
pub struct Unit {
    /// `ExecStart=`, split on whitespace (ours has no quoting).
    pub exec_start: Vec<String>,
    /// Every `Environment=NAME=VALUE`, in order.
    pub environment: Vec<(String, String)>,
    /// Any other `Key=Value` of the `[Service]` section, last one wins.
    pub service: Vec<(String, String)>,
}

impl Unit {
    /// `deploy/<name>`, an instance template, for instance `instance` (`%i`), with systemd's
    /// state directory (`%S`, `/var/lib` for system units) at `state_root`.
    pub fn instance(name: &str, instance: &str, state_root: &Path) -> Unit {
        let text = read(name);
        let expand = |v: &str| {
            v.replace("%i", instance)
                .replace("%S", &state_root.display().to_string())
        };
        let mut unit = Unit {
            exec_start: Vec::new(),
            environment: Vec::new(),
            service: Vec::new(),
        };
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                section = line.to_string();
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("deploy/{name}: not Key=Value: {line:?}"));
            if section != "[Service]" {
                continue;
            }
            match key {
                "ExecStart" => {
                    unit.exec_start = expand(value).split_whitespace().map(String::from).collect()
                }
                "Environment" => {
                    let (k, v) = value
                        .split_once('=')
                        .unwrap_or_else(|| panic!("deploy/{name}: Environment={value:?}"));
                    unit.environment.push((k.to_string(), expand(v)));
                }
                _ => unit.service.push((key.to_string(), expand(value))),
            }
        }
        assert!(
            !unit.exec_start.is_empty(),
            "deploy/{name} has no ExecStart"
        );
        unit
    }

    /// The value of `Environment=<key>=...`.
    pub fn env(&self, key: &str) -> Option<&str> {
        self.environment
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The last value of a `[Service]` setting.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.service
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `ExecStart`'s arguments after the program.
    pub fn args(&self) -> &[String] {
        &self.exec_start[1..]
    }
}
