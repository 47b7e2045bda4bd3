//! Loading a model from a Hugging Face directory (`config.json`, `model.safetensors` or sharded
//! `model-0000x-of-0000y.safetensors` with `model.safetensors.index.json`) into [`Qwen2`] with
//! LoRA adapters, optionally quantizing the frozen base (QLoRA); and saving one in that layout.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::digest::{Context, SHA256};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};

use crate::Error;
use crate::config::ModelConfig;
use crate::files::{read_pinned, sha256_hex};
use crate::lora::{LoraLinear, LoraSpec, TARGETS, adapter_for};
use crate::model::{Layer, Qwen2};
use crate::ops::FrozenWeight;
use crate::rng::Rng;
use crate::source::ModelSource;

/// How the frozen base is held in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseFormat {
    /// f32 (LoRA).
    F32,
    /// 4-bit k-quants, blocks of 256 (QLoRA; layer widths must be multiples of 256).
    Q4k,
    /// 4-bit, blocks of 32 (QLoRA on small models).
    Q4_0,
    /// 8-bit, blocks of 32.
    Q8_0,
}

fn weights_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Weights {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// The safetensors files of a model directory, in name order.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    Ok(weight_names(&ModelSource::from(dir))?
        .into_iter()
        .map(|f| dir.join(f))
        .collect())
}

/// The names of a model's safetensors files, in name order.
pub fn weight_names(source: &ModelSource) -> Result<Vec<String>, Error> {
    const SINGLE: &str = "model.safetensors";
    const INDEX: &str = "model.safetensors.index.json";
    if source.has(SINGLE) {
        return Ok(vec![SINGLE.to_owned()]);
    }
    let text = source
        .read_if_present(INDEX)
        .ok()
        .flatten()
        .ok_or_else(|| {
            weights_error(
                source.origin(),
                "neither model.safetensors nor model.safetensors.index.json is there",
            )
        })?;
    parse_index(&text, &source.path(INDEX))
}

/// The shard file names a `model.safetensors.index.json` (its bytes, read from `index`) maps
/// tensors to, sorted and without repeats. Each must be a plain `*.safetensors` name in the
/// model's folder: a name with a separator or `..` would read a file outside it.
pub fn parse_index(bytes: &[u8], index: &Path) -> Result<Vec<String>, Error> {
    crate::limits::check_size(index, bytes.len(), crate::limits::WEIGHTS_INDEX)?;
    let json: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| weights_error(index, e.to_string()))?;
    let map = json["weight_map"]
        .as_object()
        .ok_or_else(|| weights_error(index, "no weight_map"))?;
    let mut files = Vec::new();
    for (tensor, file) in map {
        let file = file.as_str().ok_or_else(|| {
            weights_error(index, format!("weight_map.{tensor:?} is not a file name"))
        })?;
        let plain = !file.contains(['/', '\\', '\0']) && !file.starts_with('.');
        if !plain || !file.ends_with(".safetensors") {
            return Err(weights_error(
                index,
                format!(
                    "weight_map.{tensor:?} names {file:?}; a shard is a *.safetensors file in the model's folder"
                ),
            ));
        }
        files.push(file.to_owned());
    }
    if files.is_empty() {
        return Err(weights_error(index, "weight_map names no file"));
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// The tensors of one safetensors file's bytes (read from `path`), on `device`. The header's
/// declared size is bounded by the safetensors crate (100 MB, and never past the buffer), and
/// every tensor's offsets by the buffer: nothing here allocates more than the file's size.
pub fn tensors(
    bytes: &[u8],
    path: &Path,
    device: &Device,
) -> Result<HashMap<String, Tensor>, Error> {
    candle_core::safetensors::load_buffer(bytes, device)
        .map_err(|e| weights_error(path, e.to_string()))
}

/// A model directory's `config.json` and safetensors files, each read once: the weights hash
/// and the loaded model come from these bytes.
pub struct ModelFiles {
    dir: PathBuf,
    config: Arc<Vec<u8>>,
    /// (file name, bytes), in name order.
    weights: Vec<(String, Arc<Vec<u8>>)>,
}

impl ModelFiles {
    /// Reads `dir`'s `config.json` and weight files.
    pub fn read(dir: &Path) -> Result<Self, Error> {
        Self::from_source(&ModelSource::from(dir))
    }

    /// Reads `source`'s `config.json` and weight files (files in memory are shared, not
    /// copied).
    pub fn from_source(source: &ModelSource) -> Result<Self, Error> {
        let weights = weight_names(source)?
            .into_iter()
            .map(|name| {
                let bytes = source.read(&name)?;
                Ok((name, bytes))
            })
            .collect::<Result<_, Error>>()?;
        Ok(ModelFiles {
            dir: source.origin().to_owned(),
            config: source.read("config.json")?,
            weights,
        })
    }

    /// The model's config.
    pub fn config(&self) -> Result<ModelConfig, Error> {
        ModelConfig::from_json(&self.config, &self.dir.join("config.json"))
    }

    /// The weights hash a recipe pins: SHA-256 over, for each safetensors file in name order,
    /// its file name, a zero byte and its SHA-256.
    pub fn weights_hash(&self) -> String {
        let mut ctx = Context::new(&SHA256);
        for (name, bytes) in &self.weights {
            ctx.update(name.as_bytes());
            ctx.update(&[0]);
            ctx.update(aws_lc_rs::digest::digest(&SHA256, bytes).as_ref());
        }
        hex::encode(ctx.finish())
    }
}

/// The weights hash of the model in `dir` (see [`ModelFiles::weights_hash`]).
pub fn weights_hash(dir: &Path) -> Result<String, Error> {
    Ok(ModelFiles::read(dir)?.weights_hash())
}

/// SHA-256 of one file, hex.
pub fn file_hash(path: &Path) -> Result<String, Error> {
    Ok(sha256_hex(&read_pinned(path)?))
}

struct Tensors {
    map: HashMap<String, Tensor>,
    dir: PathBuf,
}

impl Tensors {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Tensor, Error> {
        let t = self
            .map
            .remove(name)
            .ok_or_else(|| weights_error(&self.dir, format!("tensor {name} is missing")))?;
        if t.dims() != shape {
            return Err(weights_error(
                &self.dir,
                format!(
                    "tensor {name} has shape {:?}, the config implies {shape:?}",
                    t.dims()
                ),
            ));
        }
        Ok(t.to_dtype(DType::F32)?)
    }
}

fn frozen(w: Tensor, format: BaseFormat) -> Result<FrozenWeight, Error> {
    let dtype = match format {
        BaseFormat::F32 => return Ok(FrozenWeight::F32(w)),
        BaseFormat::Q4k => GgmlDType::Q4K,
        BaseFormat::Q4_0 => GgmlDType::Q4_0,
        BaseFormat::Q8_0 => GgmlDType::Q8_0,
    };
    Ok(FrozenWeight::Quantized(Arc::new(QTensor::quantize(
        &w, dtype,
    )?)))
}

/// Loads the model in `dir` with adapters per `lora`, its base held as `format`.
pub fn load(
    dir: &Path,
    lora: &LoraSpec,
    format: BaseFormat,
    max_seq: usize,
    device: &Device,
) -> Result<Qwen2, Error> {
    load_files(ModelFiles::read(dir)?, lora, format, max_seq, device)
}

/// [`load`], from files already read (their bytes are released as they become tensors).
pub fn load_files(
    files: ModelFiles,
    lora: &LoraSpec,
    format: BaseFormat,
    max_seq: usize,
    device: &Device,
) -> Result<Qwen2, Error> {
    let config = files.config()?;
    let dir = files.dir.as_path();
    let mut map = HashMap::new();
    for (name, bytes) in files.weights {
        map.extend(tensors(&bytes, &dir.join(&name), device)?);
    }
    let mut t = Tensors {
        map,
        dir: dir.to_owned(),
    };
    for target in &lora.targets {
        if !TARGETS.contains(&target.as_str()) {
            return Err(weights_error(
                dir,
                format!("unknown LoRA target {target:?}"),
            ));
        }
    }
    let c = &config;
    let (h, hd, i) = (c.hidden_size, c.head_dim(), c.intermediate_size);
    let (q_out, kv_out) = (c.num_attention_heads * hd, c.num_key_value_heads * hd);
    let embed = t.take("model.embed_tokens.weight", &[c.vocab_size, h])?;
    let mut layers = Vec::with_capacity(c.num_hidden_layers);
    for n in 0..c.num_hidden_layers {
        let p = format!("model.layers.{n}");
        let mut linear = |name: &str,
                          module: &str,
                          in_dim: usize,
                          out_dim: usize,
                          bias: bool|
         -> Result<LoraLinear, Error> {
            let weight = t.take(&format!("{p}.{module}.{name}.weight"), &[out_dim, in_dim])?;
            let bias = if bias {
                Some(t.take(&format!("{p}.{module}.{name}.bias"), &[out_dim])?)
            } else {
                None
            };
            let adapter = adapter_for(n, name, in_dim, out_dim, lora, device)?;
            Ok(LoraLinear {
                weight: frozen(weight, format)?,
                bias,
                lora: adapter,
                in_dim,
                out_dim,
            })
        };
        let q_proj = linear("q_proj", "self_attn", h, q_out, true)?;
        let k_proj = linear("k_proj", "self_attn", h, kv_out, true)?;
        let v_proj = linear("v_proj", "self_attn", h, kv_out, true)?;
        let o_proj = linear("o_proj", "self_attn", q_out, h, false)?;
        let gate_proj = linear("gate_proj", "mlp", h, i, false)?;
        let up_proj = linear("up_proj", "mlp", h, i, false)?;
        let down_proj = linear("down_proj", "mlp", i, h, false)?;
        layers.push(Layer {
            input_norm: t.take(&format!("{p}.input_layernorm.weight"), &[h])?,
            post_norm: t.take(&format!("{p}.post_attention_layernorm.weight"), &[h])?,
            q_proj,
            k_proj,
            v_proj,
            o_proj,
            gate_proj,
            up_proj,
            down_proj,
        });
    }
    let norm = t.take("model.norm.weight", &[h])?;
    let lm_head = if c.tie_word_embeddings {
        t.map.remove("lm_head.weight");
        FrozenWeight::F32(embed.clone())
    } else {
        frozen(t.take("lm_head.weight", &[c.vocab_size, h])?, format)?
    };
    Ok(Qwen2::new(config, embed, layers, norm, lm_head, max_seq)?)
}

/// Writes `tensors` as `dir/model.safetensors` and `config` as `dir/config.json`: the layout of a
/// Hugging Face model directory.
pub fn save(
    dir: &Path,
    config: &ModelConfig,
    tensors: &BTreeMap<String, Tensor>,
) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut json = serde_json::to_value(config).expect("config serialises");
    json["architectures"] = serde_json::json!(["Qwen2ForCausalLM"]);
    json["model_type"] = "qwen2".into();
    json["torch_dtype"] = "float32".into();
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json).expect("json")).map_err(
        |source| Error::Io {
            path: path.display().to_string(),
            source,
        },
    )?;
    let path = dir.join("model.safetensors");
    let map: HashMap<String, Tensor> = tensors
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    candle_core::safetensors::save(&map, &path).map_err(|e| weights_error(&path, e.to_string()))
}

/// A randomly initialised Qwen2 model with `config`'s shapes, every weight drawn from the seeded
/// generator: the tiny models tests and benchmarks build in code.
pub fn random_tensors(
    config: &ModelConfig,
    seed: u64,
) -> candle_core::Result<BTreeMap<String, Tensor>> {
    let dev = Device::Cpu;
    let c = config;
    let (h, hd, i) = (c.hidden_size, c.head_dim(), c.intermediate_size);
    let (q_out, kv_out) = (c.num_attention_heads * hd, c.num_key_value_heads * hd);
    let mut out = BTreeMap::new();
    let mut put =
        |name: String, shape: Vec<usize>, scale: f32, offset: f32| -> candle_core::Result<()> {
            let mut rng = Rng::new(seed, &name);
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n)
                .map(|_| offset + scale * rng.normal() as f32)
                .collect();
            out.insert(name, Tensor::from_vec(data, shape, &dev)?);
            Ok(())
        };
    let std = 0.02;
    put(
        "model.embed_tokens.weight".into(),
        vec![c.vocab_size, h],
        std,
        0.0,
    )?;
    for n in 0..c.num_hidden_layers {
        let p = format!("model.layers.{n}");
        for (name, o, inp) in [
            ("q_proj", q_out, h),
            ("k_proj", kv_out, h),
            ("v_proj", kv_out, h),
            ("o_proj", h, q_out),
        ] {
            put(
                format!("{p}.self_attn.{name}.weight"),
                vec![o, inp],
                std,
                0.0,
            )?;
        }
        for (name, o) in [("q_proj", q_out), ("k_proj", kv_out), ("v_proj", kv_out)] {
            put(format!("{p}.self_attn.{name}.bias"), vec![o], std, 0.0)?;
        }
        put(format!("{p}.mlp.gate_proj.weight"), vec![i, h], std, 0.0)?;
        put(format!("{p}.mlp.up_proj.weight"), vec![i, h], std, 0.0)?;
        put(format!("{p}.mlp.down_proj.weight"), vec![h, i], std, 0.0)?;
        put(format!("{p}.input_layernorm.weight"), vec![h], 0.05, 1.0)?;
        put(
            format!("{p}.post_attention_layernorm.weight"),
            vec![h],
            0.05,
            1.0,
        )?;
    }
    put("model.norm.weight".into(), vec![h], 0.05, 1.0)?;
    if !c.tie_word_embeddings {
        put("lm_head.weight".into(), vec![c.vocab_size, h], std, 0.0)?;
    }
    Ok(out)
}
