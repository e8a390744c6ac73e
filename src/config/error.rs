//! Configuration errors: always the file, the key path and the reason.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
/// Displays as `file: key reason`, e.g. `sst.yaml: session_timer.min_se must be at least 90 (RFC 4028 §5)`.
#[error("{file}: {}{reason}", if key.is_empty() { String::new() } else { format!("{key} ") })]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(file: &str, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError { file: file.to_owned(), key: key.to_owned(), reason: reason.into() }
    }
}
