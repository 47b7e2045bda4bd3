//! The `abi` layer: the bytes of an SEV-SNP ATTESTATION_REPORT and the envelopes it arrives in.
//!
//! Everything here is pure parsing and serialisation, with no cryptography and no policy. Layouts
//! follow AMD's *SEV Secure Nested Paging Firmware ABI Specification* (publication 56860), table
//! "ATTESTATION_REPORT Structure", for report versions 2 to 5.

mod cert_table;
mod envelope;
mod fields;
mod product;
mod report;
mod request;
mod tcb;

pub use cert_table::{CertificateKind, TableEntry, build_cert_table, parse_cert_table};
pub use envelope::{Envelope, extract_report};
pub use fields::{FirmwareVersion, GuestPolicy, KeyInfo, PlatformInfo, SigningKey};
pub use product::{Cpuid, Product};
pub use report::{
    AttestationReport, EcdsaSignature, MitigationVectors, REPORT_SIZE, SIGNED_LEN, VersionFields,
};
pub use request::{
    ExtendedResponse, MAX_FRAME, REPORT_REQUEST_SIZE, ReportRequest, report_response,
};
pub use tcb::{Tcb, TcbVersion};
