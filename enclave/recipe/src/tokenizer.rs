//! The model's tokenizer (`tokenizer.json`, through the `tokenizers` crate) and its chat
//! template (`chat_template` of `tokenizer_config.json`, a Jinja template rendered with
//! minijinja), turning a prompt/answer pair into token ids and the mask of answer tokens.

use std::path::Path;

use minijinja::{Environment, context};

use crate::Error;

/// ChatML, used when a model directory has no chat template of its own.
pub const CHATML: &str = "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

/// What a template's `raise_exception(…)` reports, whatever it was given.
const RAISED: &str = "the template called raise_exception (its message is not reported)";

/// A tokenizer with the chat template of its model.
pub struct ChatTokenizer {
    tokenizer: tokenizers::Tokenizer,
    template: String,
    origin: String,
}

/// A prompt/answer pair as token ids, with the positions that belong to the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids of the rendered conversation.
    pub ids: Vec<u32>,
    /// `true` where the token belongs to the answer (the part the loss scores).
    pub answer: Vec<bool>,
}

fn tok_error(origin: &str, reason: impl Into<String>) -> Error {
    Error::Tokenizer {
        path: origin.to_owned(),
        reason: reason.into(),
    }
}

impl ChatTokenizer {
    /// Loads `tokenizer.json` from `dir`, and the chat template from `tokenizer_config.json` if
    /// there is one (else ChatML).
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let path = dir.join("tokenizer.json");
        let tokenizer = crate::files::read_pinned(&path)?;
        let config = crate::files::read_pinned_if_present(&dir.join("tokenizer_config.json"))?;
        Self::from_bytes(&tokenizer, config.as_deref(), dir)
    }

    /// From the bytes of `tokenizer.json` and, if there is one, `tokenizer_config.json`, read
    /// from `dir` (which names them in errors).
    pub fn from_bytes(tokenizer: &[u8], config: Option<&[u8]>, dir: &Path) -> Result<Self, Error> {
        let origin = dir.join("tokenizer.json").display().to_string();
        crate::limits::check_size(&origin, tokenizer.len(), crate::limits::TOKENIZER)?;
        // tokenizers 0.23 panics on a lexical error inside "decoder" (an `expect` in that
        // deserialiser; found by the parse_tokenizer fuzz target, inputs in
        // fuzz/regressions/parse_tokenizer/: a syntax error, a lone surrogate escape). The whole
        // text is decoded here first (into a Value: ignoring it would skip escapes unchecked),
        // so the crate only ever reads well-formed JSON, where that deserialiser cannot fail.
        serde_json::from_slice::<serde_json::Value>(tokenizer)
            .map_err(|e| tok_error(&origin, e.to_string()))?;
        let tokenizer = tokenizers::Tokenizer::from_bytes(tokenizer)
            .map_err(|e| tok_error(&origin, e.to_string()))?;
        let template = match config {
            Some(bytes) => {
                crate::limits::check_size(
                    dir.join("tokenizer_config.json"),
                    bytes.len(),
                    crate::limits::TOKENIZER_CONFIG,
                )?;
                let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
                    tok_error(
                        &dir.join("tokenizer_config.json").display().to_string(),
                        e.to_string(),
                    )
                })?;
                json["chat_template"].as_str().unwrap_or(CHATML).to_owned()
            }
            None => CHATML.to_owned(),
        };
        Ok(ChatTokenizer {
            tokenizer,
            template,
            origin,
        })
    }

    /// From parts (tests build tokenizers in code).
    pub fn new(tokenizer: tokenizers::Tokenizer, template: &str) -> Self {
        ChatTokenizer {
            tokenizer,
            template: template.to_owned(),
            origin: "tokenizer".into(),
        }
    }

    /// The chat template's text.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// Vocabulary size, with added tokens.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// Renders a conversation with the template.
    pub fn render(
        &self,
        messages: &[(&str, &str)],
        add_generation_prompt: bool,
    ) -> Result<String, Error> {
        let mut env = Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        // Templates call raise_exception to refuse a conversation they cannot render. Its text
        // is dropped: a template must not be able to put the text it renders (a holdout
        // example's, inside the enclave) into an error message.
        env.add_function(
            "raise_exception",
            |_msg: minijinja::Value| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    RAISED,
                ))
            },
        );
        let messages: Vec<_> = messages
            .iter()
            .map(|(role, content)| context! { role => *role, content => *content })
            .collect();
        env.render_str(
            &self.template,
            context! { messages => messages, add_generation_prompt => add_generation_prompt, tools => minijinja::Value::from(()) },
        )
        .map_err(|e| tok_error(&self.origin, format!("chat template: {e}")))
    }

    /// Token ids of `text` (special tokens in the text are recognised; none are added).
    pub fn encode_text(&self, text: &str) -> Result<Vec<u32>, Error> {
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(|e| tok_error(&self.origin, e.to_string()))?
            .get_ids()
            .to_vec())
    }

    /// Text of token ids.
    pub fn decode(&self, ids: &[u32]) -> Result<String, Error> {
        self.tokenizer
            .decode(ids, false)
            .map_err(|e| tok_error(&self.origin, e.to_string()))
    }

    /// The conversation `user: prompt`, `assistant: answer`, tokenized, with the answer's tokens
    /// marked: those that start at or after the end of the rendered prompt with its generation
    /// prompt (the assistant's turn header).
    pub fn encode_pair(&self, prompt: &str, answer: &str) -> Result<Encoded, Error> {
        let head = self.render(&[("user", prompt)], true)?;
        let full = self.render(&[("user", prompt), ("assistant", answer)], false)?;
        if !full.starts_with(&head) {
            return Err(tok_error(
                &self.origin,
                "the chat template renders the assistant turn in a way that does not extend the prompt",
            ));
        }
        let enc = self
            .tokenizer
            .encode(full.as_str(), false)
            .map_err(|e| tok_error(&self.origin, e.to_string()))?;
        let answer = enc
            .get_offsets()
            .iter()
            .map(|(start, _)| *start >= head.len())
            .collect();
        Ok(Encoded {
            ids: enc.get_ids().to_vec(),
            answer,
        })
    }
}

/// The pre-tokenizer split of Qwen2's `tokenizer.json` (before its byte-level step).
const QWEN_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The `tokenizer.json` of a byte-level BPE tokenizer with no merges (every byte one token, ids
/// 0–255) plus ChatML's special tokens (256–258), pre-tokenized like Qwen2's: the tokenizer of
/// the tiny test models, which goes through the same loading path as a real model's.
pub fn byte_level_tokenizer_json() -> String {
    let mut chars: Vec<char> = tokenizers::pre_tokenizers::byte_level::ByteLevel::alphabet()
        .into_iter()
        .collect();
    chars.sort();
    let vocab: serde_json::Map<String, serde_json::Value> = chars
        .iter()
        .enumerate()
        .map(|(i, c)| (c.to_string(), serde_json::Value::from(i)))
        .collect();
    let added: Vec<serde_json::Value> = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({"id": 256 + i, "content": t, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let byte_level = serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false});
    serde_json::to_string_pretty(&serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN_SPLIT}, "behavior": "Isolated", "invert": false},
            byte_level,
        ]},
        "post_processor": null,
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": []},
    }))
    .expect("json")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A syntax error or a lone surrogate inside "decoder" made tokenizers panic; each is an
    /// error naming the file.
    #[test]
    fn a_malformed_decoder_is_an_error_not_a_panic() {
        let good = byte_level_tokenizer_json();
        let bad = good.replacen("\"decoder\":", "\"decoder\": {\"type\": tru},\"x\":", 1);
        assert_ne!(bad, good, "the fixture has a decoder");
        let e = ChatTokenizer::from_bytes(bad.as_bytes(), None, Path::new("m"))
            .err()
            .expect("refused")
            .to_string();
        assert!(
            e.contains("m/tokenizer.json") && e.contains("expected ident"),
            "{e}"
        );
        let surrogate = good.replacen(
            "\"decoder\":",
            "\"decoder\": {\"type\": \"\\ud800\"},\"x\":",
            1,
        );
        let e = ChatTokenizer::from_bytes(surrogate.as_bytes(), None, Path::new("m"))
            .err()
            .expect("refused")
            .to_string();
        assert!(
            e.contains("m/tokenizer.json") && e.contains("escape"),
            "{e}"
        );
        let utf8 = [&good.as_bytes()[..good.len() - 2], b"\"\xe0\"}"].concat();
        assert!(ChatTokenizer::from_bytes(&utf8, None, Path::new("m")).is_err());
    }
}
