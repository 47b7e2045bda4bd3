//! The recipe file: round trip, canonical hash, and errors that name the field.

use assay_recipe::Error;
use assay_recipe::fixture::{tiny_config, write_model};
use assay_recipe::recipe::Recipe;

fn sample() -> Recipe {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), &tiny_config(), 1).unwrap()
}

#[test]
fn round_trips_and_hashes_canonically() {
    let r = sample();
    let text = r.to_toml();
    let back = Recipe::from_toml(&text, "r.toml").unwrap();
    assert_eq!(back, r);
    assert_eq!(back.hash(), r.hash());
    assert_eq!(r.hash().len(), 64);
    // Comments, spacing and the order of tables do not change the hash.
    let mut tables: Vec<&str> = text.split("\n[").collect();
    let head = tables.remove(0);
    tables.reverse();
    let reordered = format!("# a comment\n{head}\n[{}", tables.join("\n\n["));
    let again = Recipe::from_toml(&reordered, "r.toml").unwrap();
    assert_eq!(again.hash(), r.hash());
    // Any value does.
    let mut other = r.clone();
    other.training.seed += 1;
    assert_ne!(other.hash(), r.hash());
}

#[test]
fn bad_fields_are_named() {
    let text = sample().to_toml();
    let cases: Vec<(String, &str)> = vec![
        (text.replace("rank = 4", "rank = 0"), "lora.rank"),
        (text.replace("rank = 4", "rnak = 4"), "rnak"),
        (
            text.replace("dropout = 0.0", "dropout = 1.0"),
            "lora.dropout",
        ),
        (text.replace("\"q_proj\"", "\"x_proj\""), "lora.targets"),
        (text.replace("\"k_proj\"", "\"q_proj\""), "lora.targets"),
        (text.replace("lr = 0.01", "lr = -1.0"), "optimizer.lr"),
        (
            text.replace("beta2 = 0.999", "beta2 = 1.5"),
            "optimizer.beta2",
        ),
        (
            text.replace("seq_len = 96", "seq_len = 1"),
            "training.seq_len",
        ),
        (
            text.replace("seq_len = 96", "seq_len = 100000"),
            "training.seq_len",
        ),
        (text.replace("epochs = 2", "epochs = 0"), "training.epochs"),
        (text.replace("shards = 2", "shards = 0"), "training.shards"),
        (text.replace("shards = 2", "shards = 5"), "training.shards"),
        (
            text.replace(
                "direction = \"lower_is_better\"",
                "direction = \"higher_is_better\"",
            ),
            "eval.direction",
        ),
        (
            text.replace("format = \"assay-recipe/1\"", "format = \"assay-recipe/9\""),
            "format",
        ),
        (
            text.replace("base = \"f32\"", "base = \"q4k\""),
            "model.base",
        ),
        (text.replace("base = \"f32\"", "base = \"q3\""), "q3"),
        (
            text.replace("num_key_value_heads = 2", "num_key_value_heads = 3"),
            "model.config",
        ),
        (
            text.replacen("weights_sha256 = \"", "weights_sha256 = \"zz", 1),
            "model.weights_sha256",
        ),
        (
            text.replace("decay = \"linear\"", "decay = \"step\""),
            "step",
        ),
    ];
    for (broken, field) in cases {
        assert_ne!(broken, text, "{field}: the edit did not apply");
        let e = Recipe::from_toml(&broken, "r.toml").unwrap_err();
        assert!(matches!(e, Error::Recipe { .. }));
        let msg = e.to_string();
        assert!(
            msg.starts_with("recipe r.toml: ") && msg.contains(field),
            "{field}: {msg}"
        );
    }
    assert!(matches!(
        Recipe::load(std::path::Path::new("/nonexistent.toml")),
        Err(Error::Io { .. })
    ));
}
