//! The crate's one error type.

/// Why a measurement cannot be computed or a reference-values file cannot be used.
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
    /// The firmware is too small to hold the OVMF footer table.
    #[error("firmware of {size} bytes is too small for an OVMF footer table")]
    FirmwareTooSmall {
        /// Its size.
        size: usize,
    },
    /// The firmware's size is not a multiple of 4 KiB pages.
    #[error("firmware of {size} bytes is not a whole number of 4096-byte pages")]
    FirmwareNotPageAligned {
        /// Its size.
        size: usize,
    },
    /// The OVMF footer table is malformed.
    #[error("OVMF footer table: {reason}")]
    FooterTable {
        /// What is wrong.
        reason: String,
    },
    /// A GUIDed entry the computation needs is not in the footer table.
    #[error(
        "Can't find {name} entry in OVMF table (GUID {guid}): this firmware was not built for SEV"
    )]
    MissingTableEntry {
        /// Entry name, as sev-snp-measure names it.
        name: &'static str,
        /// Its GUID.
        guid: &'static str,
    },
    /// The SEV metadata (`ASEV`) is malformed.
    #[error("OVMF SEV metadata: {reason}")]
    Metadata {
        /// What is wrong.
        reason: String,
    },
    /// A kernel was given but the firmware cannot measure one (SNP).
    #[error("Kernel specified but OVMF metadata doesn't include SNP_KERNEL_HASHES section")]
    NoKernelHashesSection,
    /// A kernel was given but the firmware cannot measure one (SEV, SEV-ES).
    #[error("Kernel specified but OVMF doesn't support kernel/initrd/cmdline measurement")]
    NoHashesTable,
    /// More than one vCPU but the firmware gives no AP entry point.
    #[error(
        "the firmware's SEV-ES reset block gives AP entry point 0, so only 1 vCPU can start; {vcpus} were asked for"
    )]
    NoApEntry {
        /// vCPUs requested.
        vcpus: u32,
    },
    /// An argument is invalid (mirrors sev-snp-measure's argument errors).
    #[error("{0}")]
    Argument(String),
    /// A reference-values file is malformed.
    #[error("reference values {path}: {reason}")]
    Reference {
        /// The path.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// The case in one stable word: `io`, `argument`, `reference`, or `firmware` (the firmware
    /// cannot be measured as asked).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Argument(_) => "argument",
            Error::Reference { .. } => "reference",
            _ => "firmware",
        }
    }

    /// The HTTP status an API answers with: 500 for a file that could not be read, 400 for an
    /// argument, 422 for an input that was read and cannot be measured or used.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Io { .. } => 500,
            Error::Argument(_) => 400,
            _ => 422,
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
        let arg = Error::Argument("--vcpus".into());
        assert_eq!((arg.kind(), arg.http_status()), ("argument", 400));
        let fw = Error::NoKernelHashesSection;
        assert_eq!((fw.kind(), fw.http_status()), ("firmware", 422));
    }
}
