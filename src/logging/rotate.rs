//! A log file rotated by size: when a write would take it past the limit, `flashsale.log`
//! becomes `flashsale.log.1` (`.1` becomes `.2`, and so on; the oldest beyond the count is
//! removed) and a new file is started. So the log never holds more than `(files + 1) * max`
//! bytes. `tracing-appender` rotates by time only.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub struct RotatingFile {
    path: PathBuf,
    file: File,
    len: u64,
    max_bytes: u64,
    files: u32,
}

impl RotatingFile {
    pub fn open(path: &Path, max_bytes: u64, files: u32) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let len = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            len,
            max_bytes: max_bytes.max(1),
            files: files.max(1),
        })
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let _ = std::fs::remove_file(self.numbered(self.files));
        for n in (1..self.files).rev() {
            let from = self.numbered(n);
            if from.exists() {
                std::fs::rename(&from, self.numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, self.numbered(1))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.len = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.len > 0 && self.len + buf.len() as u64 > self.max_bytes {
            // A failed rotation (a read-only directory) keeps writing where it was.
            let _ = self.rotate();
        }
        let n = self.file.write(buf)?;
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_rotates_by_size_and_keeps_a_bounded_number_of_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("flashsale.log");
        let mut log = RotatingFile::open(&path, 100, 2).expect("open");
        let line = [b'x'; 39];
        for _ in 0..40 {
            log.write_all(&line).expect("write");
            log.write_all(b"\n").expect("write");
        }
        log.flush().expect("flush");
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["flashsale.log", "flashsale.log.1", "flashsale.log.2"]
        );
        for n in &names {
            let len = std::fs::metadata(dir.path().join(n)).expect("meta").len();
            assert!(len <= 100, "{n}: {len}");
        }
    }
}
