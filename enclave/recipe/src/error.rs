//! The crate's one error type.

/// Why a recipe, its inputs or a run cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A pinned input is not a regular file (a FIFO, a device, a folder): it could serve one
    /// content to the hash and another to the loader.
    #[error("{path}: not a regular file; pinned inputs are read from regular files only")]
    NotRegularFile {
        /// The path.
        path: String,
    },
    /// An input is larger than its parser reads ([`crate::limits`]).
    #[error("{path}: {size} bytes; at most {max} are read from such a file")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A recipe field is missing or invalid.
    #[error("recipe {path}: {field}: {reason}")]
    Recipe {
        /// The recipe file.
        path: String,
        /// The field, dotted (`lora.rank`).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The model's config.json is invalid.
    #[error("model config {path}: {reason}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Weights are missing, misshapen or do not match their pinned hash.
    #[error("weights {path}: {reason}")]
    Weights {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The tokenizer or chat template cannot be used.
    #[error("tokenizer {path}: {reason}")]
    Tokenizer {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A line of a contributions or holdout file is malformed.
    #[error("{path}:{line}: {reason}")]
    Data {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A pinned input's hash differs from the recipe's.
    #[error(
        "{what} hash {found} differs from the recipe's {expected}: the recipe pins other inputs"
    )]
    HashMismatch {
        /// Which input.
        what: &'static str,
        /// Hash pinned by the recipe.
        expected: String,
        /// Hash of the file given.
        found: String,
    },
    /// A tensor computation failed.
    #[error("tensor computation: {0}")]
    Tensor(#[from] candle_core::Error),
    /// Training diverged (non-finite loss).
    #[error("training diverged: loss is {loss} at step {step}; lower the learning rate")]
    Diverged {
        /// Optimizer step.
        step: usize,
        /// The loss.
        loss: f32,
    },
    /// Nothing to evaluate or train on.
    #[error("{0}")]
    Empty(String),
    /// The program could not replace itself with a copy running candle single-threaded
    /// ([`crate::threads::candle_single_threaded_command`]).
    #[error(
        "cannot run this program again with RAYON_NUM_THREADS=1 (candle single-threaded): \
         {0}; set RAYON_NUM_THREADS yourself to skip this step"
    )]
    Exec(std::io::Error),
    /// This CPU is outside what results are reproducible on ([`crate::cpu`]).
    #[error(
        "this CPU lacks {0}: results are reproducible only on x86-64-v3 CPUs (AVX2 and FMA, as \
         every AMD CPU with SEV-SNP has), and its matmuls would round otherwise"
    )]
    Cpu(&'static str),
    /// The trained adapter could not be written out as a PEFT folder.
    #[error("the adapter: {0}")]
    Adapter(String),
}

impl Error {
    /// The case in one stable word.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::NotRegularFile { .. } => "not_regular_file",
            Error::TooLarge { .. } => "too_large",
            Error::Recipe { .. } => "recipe",
            Error::Config { .. } => "config",
            Error::Weights { .. } => "weights",
            Error::Tokenizer { .. } => "tokenizer",
            Error::Data { .. } => "data",
            Error::HashMismatch { .. } => "hash_mismatch",
            Error::Tensor(_) => "tensor",
            Error::Diverged { .. } => "diverged",
            Error::Empty(_) => "empty",
            Error::Exec(_) => "exec",
            Error::Cpu(_) => "cpu",
            Error::Adapter(_) => "adapter",
        }
    }

    /// The HTTP status an API answers with: 500 for what went wrong on this side (a file, the
    /// tensor engine, the process, the CPU), 422 for a training that diverged, 400 for inputs that
    /// cannot be used.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Io { .. }
            | Error::Tensor(_)
            | Error::Exec(_)
            | Error::Cpu(_)
            | Error::Adapter(_) => 500,
            Error::Diverged { .. } => 422,
            _ => 400,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_statuses() {
        let io = Error::Io {
            path: "f".into(),
            source: std::io::Error::other("gone"),
        };
        assert_eq!((io.kind(), io.http_status()), ("io", 500));
        let empty = Error::Empty("no examples".into());
        assert_eq!((empty.kind(), empty.http_status()), ("empty", 400));
        let exec = Error::Exec(std::io::Error::other("no exec"));
        assert_eq!((exec.kind(), exec.http_status()), ("exec", 500));
    }
}
