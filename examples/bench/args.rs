//! `--name value` flags.

use std::collections::HashMap;

/// The flags after the scenario name.
pub struct Flags(HashMap<String, String>);

impl Flags {
    /// Parses `--name value` pairs; `--name` alone stands for `--name true`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut map = HashMap::new();
        let mut args = args.into_iter().peekable();
        while let Some(flag) = args.next() {
            let name = flag.strip_prefix("--").ok_or(format!("expected a --flag, got {flag}"))?;
            let value = match args.peek() {
                Some(v) if !v.starts_with("--") => args.next().unwrap_or_default(),
                _ => "true".to_owned(),
            };
            map.insert(name.to_owned(), value);
        }
        Ok(Self(map))
    }

    /// Refuses a flag that is not in `known`, so that a misspelt flag is an error rather than
    /// a silently used default.
    pub fn only(self, known: &[&str]) -> Result<Self, String> {
        let mut unknown: Vec<&str> =
            self.0.keys().map(String::as_str).filter(|n| !known.contains(n)).collect();
        if unknown.is_empty() {
            return Ok(self);
        }
        unknown.sort_unstable();
        let known: Vec<String> = known.iter().map(|n| format!("--{n}")).collect();
        Err(format!("unknown flag --{}; known: {}", unknown.join(", --"), known.join(" ")))
    }

    /// The number given for `name`, or `default`.
    pub fn num(&self, name: &str, default: u64) -> Result<u64, String> {
        self.0.get(name).map_or(Ok(default), |v| v.parse().map_err(|e| format!("--{name}: {e}")))
    }

    /// The text given for `name`.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}
