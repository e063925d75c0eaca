//! A small progress indicator: a spinner on a terminal, one plain line otherwise.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use tokio::task::JoinHandle;

const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// Shows `message` until [`Spinner::done`] replaces it with the outcome line.
pub struct Spinner {
    message: String,
    task: Option<JoinHandle<()>>,
}

impl Spinner {
    pub fn start(message: &str) -> Spinner {
        let message = message.to_string();
        if !std::io::stdout().is_terminal() {
            println!("{message}…");
            return Spinner {
                message,
                task: None,
            };
        }
        let text = message.clone();
        let task = tokio::spawn(async move {
            let mut i = 0usize;
            loop {
                print!("\r{} {text}…", FRAMES[i % FRAMES.len()]);
                let _ = std::io::stdout().flush();
                i += 1;
                tokio::time::sleep(Duration::from_millis(80)).await;
            }
        });
        Spinner {
            message,
            task: Some(task),
        }
    }

    /// Stops the spinner and prints `outcome` in its place (or under the plain line).
    pub fn done(mut self, outcome: &str) {
        if let Some(task) = self.task.take() {
            task.abort();
            print!("\r\x1b[2K");
            println!("✔ {}: {outcome}", self.message);
        } else {
            println!("  {outcome}");
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            print!("\r\x1b[2K");
            let _ = std::io::stdout().flush();
        }
    }
}
