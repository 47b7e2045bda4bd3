//! `eval()`: perplexity and mean token loss over the holdout's answer tokens, exact and
//! independent of the holdout's order.

use serde::Serialize;

use crate::Error;
use crate::data::Example;
use crate::model::Qwen2;
use crate::recipe::{Direction, Recipe};
use crate::threads::{Threads, map_ordered};
use crate::tokenizer::ChatTokenizer;
use crate::train::{Tokenized, batch, tokenize};

/// The eval numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalReport {
    /// exp(mean token loss).
    pub perplexity: f64,
    /// Mean negative log-likelihood per scored token, in nats.
    pub mean_token_loss: f64,
    /// Scored tokens.
    pub tokens: usize,
    /// Examples scored.
    pub examples: usize,
    /// Examples dropped for having no answer token within the sequence length.
    pub dropped: usize,
    /// Which way is better (from the recipe's eval spec).
    pub direction: Direction,
}

/// Evaluates `model` on `holdout`, on up to `threads` threads. Examples are put in a canonical
/// order (by content hash) and batched by `eval.batch_size`, and token losses are summed in f64
/// in that order, so a shuffled holdout, or another thread count, gives bitwise the same numbers.
pub fn evaluate(
    model: &Qwen2,
    tokenizer: &ChatTokenizer,
    recipe: &Recipe,
    holdout: &[Example],
    threads: Threads,
) -> Result<EvalReport, Error> {
    let (mut data, dropped) = tokenize(tokenizer, holdout, recipe.training.seq_len)?;
    if data.is_empty() {
        return Err(Error::Empty(
            "no holdout example has an answer token within training.seq_len".into(),
        ));
    }
    data.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.inputs.cmp(&b.inputs)));
    let chunks: Vec<&[Tokenized]> = data.chunks(recipe.eval.batch_size).collect();
    let nll = map_ordered(chunks.len(), threads, |c| -> Result<Vec<Vec<f32>>, Error> {
        let refs: Vec<&Tokenized> = chunks[c].iter().collect();
        let b = batch(&refs, model.device())?;
        let logits = model.forward(&b.inputs, None)?;
        Ok(Qwen2::token_nll(&logits, &b.targets)?.to_vec2::<f32>()?)
    });
    let mut total = 0f64;
    let mut tokens = 0usize;
    for (chunk, nll) in chunks.iter().zip(nll) {
        for (row, ex) in nll?.iter().zip(*chunk) {
            for (value, _) in row.iter().zip(&ex.scored).filter(|(_, s)| **s) {
                total += f64::from(*value);
                tokens += 1;
            }
        }
    }
    let mean = total / tokens as f64;
    Ok(EvalReport {
        perplexity: mean.exp(),
        mean_token_loss: mean,
        tokens,
        examples: data.len(),
        dropped,
        direction: recipe.eval.direction,
    })
}
