//! What can go wrong, and the exit code each kind earns.

use std::fmt;

/// A failed command.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// The command line is wrong: exit 2.
    Usage(String),
    /// The command was understood but failed: exit 1.
    Failed(String),
}

impl Error {
    /// A usage error.
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    /// A failure.
    pub fn failed(msg: impl Into<String>) -> Self {
        Error::Failed(msg.into())
    }

    /// The same error with `what: ` in front of its message.
    pub fn context(self, what: &str) -> Self {
        match self {
            Error::Usage(m) => Error::Usage(format!("{what}: {m}")),
            Error::Failed(m) => Error::Failed(format!("{what}: {m}")),
        }
    }

    /// The process exit code: 2 for usage errors, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Failed(_) => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Failed(m) => f.write_str(m),
        }
    }
}

/// Failures carry their message as is.
impl From<String> for Error {
    fn from(m: String) -> Self {
        Error::Failed(m)
    }
}

/// The text of `errno`, without Rust's " (os error N)" suffix.
pub fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_context() {
        let e = Error::usage("unknown keyword \"x\"").context("cluster add");
        assert_eq!(e.exit_code(), 2);
        assert_eq!(e.to_string(), "cluster add: unknown keyword \"x\"");
        assert_eq!(Error::failed("no").exit_code(), 1);
    }

    #[test]
    fn strerror_is_plain() {
        assert_eq!(strerror(libc::EINVAL), "Invalid argument");
        assert_eq!(strerror(libc::ENOENT), "No such file or directory");
    }
}
