//! Line-oriented I/O for `mew client connect`: an output sink (append-mode file or FIFO) and
//! input sources (stdin, or a FIFO/file followed like `tail -F`). Both run on plain threads
//! because opening a FIFO blocks until the other side shows up.
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use tokio::sync::mpsc;

/// Where received messages go, one line each.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkTarget {
    /// A regular file, opened in append mode (so a `: > file` truncation keeps working).
    AppendFile(PathBuf),
    /// A FIFO: opened when the first line is written (blocks until a reader exists), reopened
    /// after the reader goes away.
    Fifo(PathBuf),
}

pub struct LineSink {
    tx: std_mpsc::Sender<String>,
    done: std_mpsc::Receiver<()>,
}

fn open_append(path: &Path) -> io::Result<File> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)?;
        }
    }
    OpenOptions::new().create(true).append(true).open(path)
}

impl LineSink {
    /// Start the writer. A regular file is opened now so that a bad path is reported at once.
    pub fn start(target: SinkTarget) -> io::Result<LineSink> {
        let (tx, rx) = std_mpsc::channel::<String>();
        let (done_tx, done) = std_mpsc::channel();
        match target {
            SinkTarget::AppendFile(path) => {
                let mut file = open_append(&path)?;
                std::thread::spawn(move || {
                    for line in rx {
                        if let Err(e) = file.write_all(line.as_bytes()) {
                            tracing::warn!("cannot append to {}: {e}", path.display());
                        }
                    }
                    let _ = done_tx.send(());
                });
            }
            SinkTarget::Fifo(path) => {
                std::thread::spawn(move || {
                    let mut pipe: Option<File> = None;
                    for line in rx {
                        // One retry with a fresh open: the previous reader may have gone.
                        for _ in 0..2 {
                            if pipe.is_none() {
                                match OpenOptions::new().append(true).open(&path) {
                                    Ok(f) => pipe = Some(f),
                                    Err(e) => {
                                        tracing::warn!("cannot open {}: {e}", path.display());
                                        break;
                                    }
                                }
                            }
                            if let Some(f) = pipe.as_mut() {
                                if f.write_all(line.as_bytes()).is_ok() {
                                    break;
                                }
                                pipe = None;
                            }
                        }
                    }
                    let _ = done_tx.send(());
                });
            }
        }
        Ok(LineSink { tx, done })
    }

    /// Queue one line (a newline is added).
    pub fn write_line(&self, line: &str) {
        let _ = self.tx.send(format!("{line}\n"));
    }

    /// Let queued lines reach the file, waiting at most `limit` (a FIFO may have no reader).
    pub fn finish(self, limit: Duration) {
        drop(self.tx);
        let _ = self.done.recv_timeout(limit);
    }
}

/// Read stdin line by line; the channel closes at end of input.
pub fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let stdin = io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Follow `path` like `tail -F`: a FIFO is reopened after each writer closes it; a regular file
/// is read from its current end, polled for growth and re-read from the start when truncated;
/// a missing path is waited for.
pub fn follow_lines(path: PathBuf) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut first_open = true;
        loop {
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(_) => {
                    if tx.is_closed() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                    continue;
                }
            };
            let is_fifo = file
                .metadata()
                .map(|m| m.file_type().is_fifo())
                .unwrap_or(false);
            let keep_going = if is_fifo {
                read_fifo(file, &tx)
            } else {
                read_growing_file(file, first_open, &path, &tx)
            };
            first_open = false;
            if !keep_going {
                return;
            }
        }
    });
    rx
}

/// Read a FIFO until its writer closes it. Returns false when the receiver is gone.
fn read_fifo(file: File, tx: &mpsc::UnboundedSender<String>) -> bool {
    for line in BufReader::new(file).lines() {
        let Ok(line) = line else { break };
        if tx.send(line).is_err() {
            return false;
        }
    }
    true
}

/// Poll a regular file for appended lines. Returns when the file is replaced (to reopen it) or
/// false when the receiver is gone.
fn read_growing_file(
    mut file: File,
    from_end: bool,
    path: &Path,
    tx: &mpsc::UnboundedSender<String>,
) -> bool {
    if from_end && file.seek(SeekFrom::End(0)).is_err() {
        return true;
    }
    let mut reader = BufReader::new(file);
    let mut partial = String::new();
    loop {
        let mut chunk = String::new();
        match reader.read_line(&mut chunk) {
            Ok(0) => {
                if tx.is_closed() {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(200));
                let pos = reader.stream_position().unwrap_or(0);
                match std::fs::metadata(path) {
                    // Truncated: start again from the top.
                    Ok(m) if m.len() < pos => {
                        partial.clear();
                        if reader.seek(SeekFrom::Start(0)).is_err() {
                            return true;
                        }
                    }
                    Ok(_) => {}
                    // Gone or replaced: reopen.
                    Err(_) => return true,
                }
            }
            Ok(_) => {
                partial.push_str(&chunk);
                if partial.ends_with('\n') {
                    let line = partial.trim_end_matches(['\n', '\r']).to_string();
                    partial.clear();
                    if tx.send(line).is_err() {
                        return false;
                    }
                }
            }
            Err(_) => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_sink_appends_after_truncation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("logs/out.log");
        let sink = LineSink::start(SinkTarget::AppendFile(path.clone())).expect("start");
        sink.write_line("one");
        std::thread::sleep(Duration::from_millis(100));
        std::fs::File::create(&path).expect("truncate");
        sink.write_line("two");
        sink.finish(Duration::from_secs(2));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "two\n");
    }

    #[tokio::test]
    async fn follows_a_growing_file_from_its_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("in.txt");
        std::fs::write(&path, "old\n").expect("write");
        let mut rx = follow_lines(path.clone());
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"new 1\nnew").expect("append");
        f.write_all(b" 2\n").expect("append");
        let wait = Duration::from_secs(3);
        let a = tokio::time::timeout(wait, rx.recv()).await.ok().flatten();
        let b = tokio::time::timeout(wait, rx.recv()).await.ok().flatten();
        assert_eq!(a.as_deref(), Some("new 1"));
        assert_eq!(b.as_deref(), Some("new 2"));
    }

    #[tokio::test]
    async fn follows_a_fifo_across_writers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("in.fifo");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        let mut rx = follow_lines(path.clone());
        for text in ["first", "second"] {
            let p = path.clone();
            let line = format!("{text}\n");
            tokio::task::spawn_blocking(move || {
                let mut w = OpenOptions::new().write(true).open(p).expect("open fifo");
                w.write_all(line.as_bytes()).expect("write fifo");
            })
            .await
            .expect("writer");
            let got = tokio::time::timeout(Duration::from_secs(3), rx.recv())
                .await
                .ok()
                .flatten();
            assert_eq!(got.as_deref(), Some(text));
        }
    }
}
