//! The tables of `phx.toml` that the application layer reads itself
//! (`[llm]`, `[notebook]`), with the same TOML parser as the cluster
//! tables of `phx-backends`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{AppError, AppResult};

/// `[llm]`: the model endpoint of `phx gen`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    pub base_url: Option<String>,
    pub model: Option<String>,
    /// The environment variable that holds the key.
    pub api_key_env: Option<String>,
    /// How the answer is constrained: `gbnf`, `json_schema`, `none` or
    /// `auto` (what the endpoint supports; the default).
    pub constrain: Option<String>,
    /// The most tokens one answer may have.
    pub max_tokens: Option<u32>,
    /// Seconds one answer may take, all of it.
    pub timeout_s: Option<u64>,
}

/// `[notebook]`: the key that signs entries and bundles.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NotebookConfig {
    /// The signing key's file; `~/` is the home folder, a relative path is
    /// the experiment folder's.
    pub key: Option<String>,
}

/// What the application layer reads of `phx.toml` (other tables belong to
/// other parts and are left to them).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct AppConfig {
    pub llm: Option<LlmConfig>,
    pub notebook: Option<NotebookConfig>,
}

/// `[notebook]` alone, the rest of the file left to its readers.
#[derive(Deserialize, Default)]
struct NotebookTable {
    notebook: Option<NotebookConfig>,
}

/// The signing key that `[notebook] key` of `dir/phx.toml` names, if any.
/// Only that table is read: a problem elsewhere in the file is not this
/// reader's to report. A key must not sit in the experiment folder itself
/// (keeping it private would lock the folder to its owner).
pub fn notebook_key(dir: &Path) -> AppResult<Option<PathBuf>> {
    let Ok(text) = std::fs::read_to_string(dir.join("phx.toml")) else { return Ok(None) };
    let Ok(table) = toml::from_str::<NotebookTable>(&text) else { return Ok(None) };
    let config = AppConfig { llm: None, notebook: table.notebook };
    let Some(key) = config.notebook_key(dir) else { return Ok(None) };
    if key.parent().is_some_and(|p| p == dir) {
        return Err(AppError::usage(format!(
            "`[notebook] key` puts the key in the experiment folder itself ({})",
            key.display()
        ))
        .with_help("keep it in a folder of its own, such as `keys/notebook.key` or `~/.config/phx/notebook.key`"));
    }
    Ok(Some(key))
}

impl AppConfig {
    /// The tables of `dir/phx.toml`; none when there is no file.
    pub fn load(dir: &Path) -> AppResult<AppConfig> {
        let Ok(text) = std::fs::read_to_string(dir.join("phx.toml")) else { return Ok(AppConfig::default()) };
        toml::from_str(&text).map_err(|e| {
            AppError::usage(format!("{}: {}", dir.join("phx.toml").display(), e.to_string().trim()))
                .with_help("`[llm]` takes base_url, model, api_key_env and constrain (strings), max_tokens and timeout_s (numbers); `[notebook]` takes key (a string)")
        })
    }

    /// The notebook key that `[notebook] key` names, resolved.
    pub fn notebook_key(&self, dir: &Path) -> Option<PathBuf> {
        let key = self.notebook.as_ref()?.key.as_deref()?.trim();
        if key.is_empty() {
            return None;
        }
        if let Some(rest) = key.strip_prefix("~/") {
            return std::env::var_os("HOME").map(|h| PathBuf::from(h).join(rest));
        }
        let p = Path::new(key);
        Some(if p.is_absolute() { p.to_path_buf() } else { dir.join(p) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_are_read_with_the_toml_parser() {
        let dir = std::env::temp_dir().join(format!("phx-app-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("phx.toml"),
            "[run]\npolicy = \"local_first\"\n\n[llm] # the model\nbase_url = \"http://127.0.0.1:9/v1\" # local\nmodel = 'small # model'\n\n[notebook]\nkey = \"keys/lab.key\"\n",
        )
        .unwrap();
        let c = AppConfig::load(&dir).unwrap();
        let llm = c.llm.clone().unwrap();
        assert_eq!(llm.base_url.as_deref(), Some("http://127.0.0.1:9/v1"));
        // A `#` inside a string is part of it (the old line reader cut it).
        assert_eq!(llm.model.as_deref(), Some("small # model"));
        assert_eq!(c.notebook_key(&dir), Some(dir.join("keys/lab.key")));
        std::fs::write(dir.join("phx.toml"), "[llm]\nmodel = 3\n").unwrap();
        assert_eq!(AppConfig::load(&dir).unwrap_err().code, "phx::usage");
        std::fs::write(dir.join("phx.toml"), "[notebook]\nkeyy = \"x\"\n").unwrap();
        assert!(AppConfig::load(&dir).unwrap_err().message.contains("keyy"));
        // The key's reader reads `[notebook]` alone.
        std::fs::write(dir.join("phx.toml"), "[llm]\ntemperature = 0.2\n[notebook]\nkey = \"keys/k\"\n").unwrap();
        assert_eq!(notebook_key(&dir).unwrap(), Some(dir.join("keys/k")));
        std::fs::write(dir.join("phx.toml"), "[notebook]\nkey = \"lab.key\"\n").unwrap();
        assert_eq!(notebook_key(&dir).unwrap_err().code, "phx::usage");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
