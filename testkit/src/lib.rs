//! What framegate's integration tests (`tests/`) and benches (`benches/`) share, so that neither
//! borrows the other's files: the in-process S3 server, nginx run with the shipped config, the
//! token mutations, headless Chromium, a free port, and waiting for a condition with a deadline.

pub mod chromium;
pub mod mutate;
pub mod nginxproc;
pub mod s3server;
pub mod wait;

pub use wait::{free_port, poll, until, until_blocking};

/// Whether `tool` is on the PATH.
pub fn installed(tool: &str) -> bool {
    std::process::Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success())
}
