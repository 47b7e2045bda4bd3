//! The trained adapter as a Hugging Face PEFT folder: `adapter_model.safetensors` (the LoRA
//! pairs, f32, under PEFT's tensor names) and `adapter_config.json`. This is what a Forge
//! publishes: the base model the recipe pins plus these two files give the fine-tuned model.
//! Both files are byte-for-byte deterministic for a given adapter (names sorted, JSON keys in a
//! fixed order, no timestamp), so the folder's content hash (`docs/alloy.md` §4) names it.

use std::collections::HashMap;

use crate::Error;
use crate::model::Qwen2;
use crate::recipe::Recipe;
use crate::weights::BaseFormat;

/// The adapter's weights file in the folder.
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";
/// The adapter's configuration file in the folder.
pub const CONFIG_FILE: &str = "adapter_config.json";

/// An adapter folder's two files, as bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterFiles {
    /// `adapter_model.safetensors`.
    pub weights: Vec<u8>,
    /// `adapter_config.json`.
    pub config: Vec<u8>,
}

impl AdapterFiles {
    /// The folder's files by name, in name order.
    pub fn files(&self) -> [(&'static str, &[u8]); 2] {
        [(CONFIG_FILE, &self.config), (WEIGHTS_FILE, &self.weights)]
    }
}

/// The module path of a linear layer in a Hugging Face Qwen2 model.
fn module_path(layer: usize, name: &str) -> String {
    let block = match name {
        "q_proj" | "k_proj" | "v_proj" | "o_proj" => "self_attn",
        _ => "mlp",
    };
    format!("base_model.model.model.layers.{layer}.{block}.{name}")
}

/// The fine-tuning method a recipe's base format means: `lora` on an f32 base, `qlora` on a
/// quantized one.
pub fn method(recipe: &Recipe) -> &'static str {
    match recipe.model.base {
        BaseFormat::F32 => "lora",
        _ => "qlora",
    }
}

/// `model`'s adapters (trained under `recipe`) as a PEFT folder's files.
pub fn export(model: &Qwen2, recipe: &Recipe) -> Result<AdapterFiles, Error> {
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (i, layer) in model.layers.iter().enumerate() {
        for (name, linear) in layer.linears() {
            let Some(lora) = &linear.lora else { continue };
            for (which, var) in [("lora_A", &lora.a), ("lora_B", &lora.b)] {
                let t = var.as_tensor();
                let bytes: Vec<u8> = t
                    .flatten_all()?
                    .to_vec1::<f32>()?
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect();
                tensors.push((
                    format!("{}.{which}.weight", module_path(i, name)),
                    t.dims().to_vec(),
                    bytes,
                ));
            }
        }
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let views = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::Adapter(format!(
                "a LoRA tensor does not make a safetensors view: {e}"
            ))
        })?;
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    let weights = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::Adapter(format!("serialising the adapter: {e}")))?;
    let mut targets = recipe.lora.targets.clone();
    targets.sort();
    targets.dedup();
    // serde_json's map keeps insertion order off (`preserve_order` is not enabled), so keys
    // come out sorted: the same bytes every time.
    let config = serde_json::json!({
        "base_model_name_or_path": recipe.model.name,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
        "lora_alpha": recipe.lora.alpha,
        "lora_dropout": recipe.lora.dropout,
        "peft_type": "LORA",
        "r": recipe.lora.rank,
        "target_modules": targets,
        "task_type": "CAUSAL_LM",
    });
    let mut config = serde_json::to_vec_pretty(&config).expect("JSON serialises");
    config.push(b'\n');
    Ok(AdapterFiles { weights, config })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{tiny_config, write_model};
    use crate::pinned::load_pinned;
    use candle_core::Device;

    #[test]
    fn a_fresh_adapter_exports_under_peft_names_the_same_bytes_twice() {
        let dir = tempfile::tempdir().unwrap();
        let recipe = write_model(dir.path(), &tiny_config(), 3).unwrap();
        let p = load_pinned(&recipe, dir.path(), &Device::Cpu).unwrap();
        let a = export(&p.model, &recipe).unwrap();
        assert_eq!(a, export(&p.model, &recipe).unwrap());
        let st = safetensors::SafeTensors::deserialize(&a.weights).unwrap();
        let names = st.names();
        assert_eq!(names.len(), p.model.lora_params().len());
        for n in &names {
            assert!(
                n.starts_with("base_model.model.model.layers.")
                    && (n.ends_with(".lora_A.weight") || n.ends_with(".lora_B.weight")),
                "{n}"
            );
        }
        // LoRA's B starts at zero; A does not.
        let b = names.iter().find(|n| n.ends_with("lora_B.weight")).unwrap();
        assert!(st.tensor(b).unwrap().data().iter().all(|x| *x == 0));
        let config: serde_json::Value = serde_json::from_slice(&a.config).unwrap();
        assert_eq!(config["peft_type"], "LORA");
        assert_eq!(config["r"], recipe.lora.rank);
        assert_eq!(method(&recipe), "lora");
    }
}
