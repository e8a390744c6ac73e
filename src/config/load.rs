//! Reading the YAML file. Every YAML call of the project is in this file (yaml_serde, the maintained
//! successor of serde_yaml).

use std::path::Path;

use super::error::ConfigError;
use super::Config;

/// The shipped `config/sst-b2bua.yaml`, used when no `--config` is given.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/sst-b2bua.yaml");
pub const DEFAULT_CONFIG_NAME: &str = "<embedded config/sst-b2bua.yaml>";

pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(&file, "", format!("cannot read the file: {e}")))?;
    from_str(&text, &file)
}

/// Parses and validates; `file` names the source in error messages.
pub fn from_str(text: &str, file: &str) -> Result<Config, ConfigError> {
    let deserializer = yaml_serde::Deserializer::from_str(text);
    let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { String::new() } else { key };
        // The YAML error repeats the path in front of its message; keep the message once.
        let message = e.into_inner().to_string();
        let message = message.strip_prefix(&format!("{key}: ")).unwrap_or(&message).to_owned();
        let reason = if key.is_empty() { message } else { format!("is invalid: {message}") };
        ConfigError::new(file, &key, reason)
    })?;
    config.validate().map_err(|(key, reason)| ConfigError::new(file, &key, reason))?;
    Ok(config)
}
