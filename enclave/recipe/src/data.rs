//! Contributions and holdout: JSON Lines of prompt/answer pairs.
//!
//! One JSON object per line, UTF-8, `\n`-separated; blank lines are skipped:
//!
//! ```json
//! {"contributor": "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4", "prompt": "…", "answer": "…"}
//! ```
//!
//! `contributor` (a non-empty string; the Forge uses the contributor's address) is required in a
//! contributions file and optional in a holdout file; `prompt` and `answer` are non-empty strings;
//! no other field is allowed. A file is read and checked whole before anything uses it: a
//! malformed line is an error naming the file and the line, and nothing is trained on a
//! half-read file.

use std::path::Path;

use aws_lc_rs::digest::{Context, SHA256};
use serde::Deserialize;

use crate::Error;

/// One prompt/answer pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// Who contributed it (empty in a holdout without contributors).
    pub contributor: String,
    /// The prompt.
    pub prompt: String,
    /// The answer the model should learn to give.
    pub answer: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    contributor: Option<String>,
    prompt: String,
    answer: String,
}

/// Which kind of file is being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Contributions: every line names its contributor.
    Contributions,
    /// Holdout: contributors optional.
    Holdout,
}

impl Example {
    /// SHA-256 of the example's canonical encoding (each field's length as u64 LE, then its
    /// bytes): its identity for ordering and for the contribution set's Merkle leaves.
    pub fn content_hash(&self) -> [u8; 32] {
        let mut ctx = Context::new(&SHA256);
        for field in [&self.contributor, &self.prompt, &self.answer] {
            ctx.update(&(field.len() as u64).to_le_bytes());
            ctx.update(field.as_bytes());
        }
        ctx.finish().as_ref().try_into().expect("32 bytes")
    }
}

/// Parses JSON Lines text; `origin` names it in errors.
pub fn parse(text: &str, origin: &str, kind: Kind) -> Result<Vec<Example>, Error> {
    crate::limits::check_size(origin, text.len(), crate::limits::DATA)?;
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| Error::Data {
            path: origin.to_owned(),
            line: i + 1,
            reason,
        };
        let parsed: Line = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let contributor = match (parsed.contributor, kind) {
            (Some(c), _) if c.trim().is_empty() => {
                return Err(bad("`contributor` is empty".into()));
            }
            (Some(c), _) => c,
            (None, Kind::Contributions) => return Err(bad("`contributor` is missing".into())),
            (None, Kind::Holdout) => String::new(),
        };
        if parsed.prompt.is_empty() {
            return Err(bad("`prompt` is empty".into()));
        }
        if parsed.answer.is_empty() {
            return Err(bad("`answer` is empty".into()));
        }
        out.push(Example {
            contributor,
            prompt: parsed.prompt,
            answer: parsed.answer,
        });
    }
    if out.is_empty() {
        return Err(Error::Empty(format!("{origin}: no examples")));
    }
    Ok(out)
}

/// Reads and parses a JSON Lines file.
pub fn load(path: &Path, kind: Kind) -> Result<Vec<Example>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, &path.display().to_string(), kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_lines_are_named_by_number() {
        let good = r#"{"contributor": "a", "prompt": "p", "answer": "x"}"#;
        let cases = [
            (format!("{good}\n{{not json"), 2, "column"),
            (
                format!("{good}\n\n{{\"prompt\": \"p\", \"answer\": \"x\"}}"),
                3,
                "`contributor` is missing",
            ),
            (
                r#"{"contributor": "a", "prompt": "", "answer": "x"}"#.to_string(),
                1,
                "`prompt` is empty",
            ),
            (
                r#"{"contributor": "a", "prompt": "p", "answer": ""}"#.to_string(),
                1,
                "`answer` is empty",
            ),
            (
                format!(
                    "{good}\n{{\"contributor\": \"a\", \"prompt\": \"p\", \"answer\": \"x\", \"extra\": 1}}"
                ),
                2,
                "extra",
            ),
            (
                r#"{"contributor": " ", "prompt": "p", "answer": "x"}"#.to_string(),
                1,
                "`contributor` is empty",
            ),
            (
                r#"{"contributor": 5, "prompt": "p", "answer": "x"}"#.to_string(),
                1,
                "invalid type",
            ),
        ];
        for (text, line, needle) in cases {
            let e = parse(&text, "c.jsonl", Kind::Contributions).unwrap_err();
            let msg = e.to_string();
            assert!(
                matches!(e, Error::Data { line: l, .. } if l == line),
                "{msg}"
            );
            assert!(
                msg.starts_with(&format!("c.jsonl:{line}: ")) && msg.contains(needle),
                "{msg}"
            );
        }
        assert!(matches!(
            parse("\n\n", "e.jsonl", Kind::Holdout),
            Err(Error::Empty(_))
        ));
        let holdout = parse(
            "{\"prompt\": \"p\", \"answer\": \"x\"}\r\n",
            "h.jsonl",
            Kind::Holdout,
        )
        .unwrap();
        assert_eq!(holdout[0].contributor, "");
    }

    #[test]
    fn content_hash_separates_fields() {
        let a = Example {
            contributor: "ab".into(),
            prompt: "c".into(),
            answer: "d".into(),
        };
        let b = Example {
            contributor: "a".into(),
            prompt: "bc".into(),
            answer: "d".into(),
        };
        assert_ne!(a.content_hash(), b.content_hash());
    }
}
