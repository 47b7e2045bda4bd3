//! The crate's one error type. Each failed check has its own variant, and [`Error::check`] names
//! the check so a caller can report "which check failed" in one word.

use time::OffsetDateTime;

use crate::abi::Product;

/// Everything that can make a report, a certificate, a CRL or a policy unacceptable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- abi: parsing ----
    /// The input is not 1184 bytes and not a recognised envelope.
    #[error(
        "an SNP attestation report is 1184 bytes (or wrapped in MSG_REPORT_RSP or an Azure HCL report); got {len} bytes"
    )]
    ReportLength {
        /// Length of the input.
        len: usize,
    },
    /// An envelope was recognised but is too short to hold a report.
    #[error("{envelope} of {len} bytes is too short to hold a report at offset 0x20")]
    EnvelopeTruncated {
        /// Which envelope.
        envelope: &'static str,
        /// Its length.
        len: usize,
    },
    /// Bytes follow the report in an envelope where only zero padding may.
    #[error("{envelope}: {reason}")]
    EnvelopeTrailing {
        /// Which envelope.
        envelope: &'static str,
        /// What follows the report, and where.
        reason: String,
    },
    /// MSG_REPORT_RSP carried a firmware error instead of a report.
    #[error("the firmware answered the report request with status {status:#x} instead of a report")]
    FirmwareStatus {
        /// The firmware status code.
        status: u32,
    },
    /// VERSION is not 2, 3, 4 or 5.
    #[error("report version {version} is not supported (supported: 2, 3, 4, 5)")]
    UnsupportedVersion {
        /// The VERSION field.
        version: u32,
    },
    /// SIGNATURE_ALGO is not ECDSA P-384 with SHA-384.
    #[error("signature algorithm {algo} is not ECDSA P-384/SHA-384 (1)")]
    UnsupportedSignatureAlgorithm {
        /// The SIGNATURE_ALGO field.
        algo: u32,
    },
    /// A reserved byte or bit is not zero.
    #[error("report byte {offset:#05x} ({field}) is reserved and must be zero")]
    ReservedNonZero {
        /// Which reserved region.
        field: &'static str,
        /// First non-zero byte.
        offset: usize,
    },
    /// POLICY bit 17 (must be one) is zero.
    #[error(
        "guest policy {policy:#x} has reserved bit 17 clear; AMD firmware never launches such a guest"
    )]
    PolicyReservedBitClear {
        /// The POLICY field.
        policy: u64,
    },
    /// KEY_INFO names a reserved signing key.
    #[error("KEY_INFO signing key {value} is reserved (0 = VCEK, 1 = VLEK, 7 = none)")]
    SigningKeyReserved {
        /// The SIGNING_KEY bits.
        value: u32,
    },
    /// CPUID family/model match no supported product.
    #[error("CPUID family {family:#x} model {model:#x} is not Milan, Genoa or Turin")]
    UnknownCpuid {
        /// CPUID_FAM_ID.
        family: u8,
        /// CPUID_MOD_ID.
        model: u8,
    },
    /// A product name is not Milan, Genoa or Turin.
    #[error("unknown product {name:?}: expected Milan, Genoa or Turin")]
    UnknownProduct {
        /// The name given.
        name: String,
    },

    /// The certificate table of an extended report is malformed.
    #[error("certificate table entry {index}: {problem}")]
    CertTable {
        /// Index of the entry.
        index: usize,
        /// What is wrong.
        problem: String,
    },

    // ---- verify: certificates and chain ----
    /// A certificate could not be parsed.
    #[error("certificate {origin}: {reason}")]
    CertificateParse {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// No VCEK or VLEK (EC P-384 certificate) among the certificates given.
    #[error(
        "no VCEK or VLEK among the certificates: give the chip's vcek.pem/vcek.der (or vlek) with --certs"
    )]
    NoVek,
    /// More than one VCEK/VLEK among the certificates given.
    #[error(
        "more than one VCEK/VLEK among the certificates ({certs}): keep only the one that signed the report"
    )]
    MultipleVeks {
        /// The candidates.
        certs: String,
    },
    /// A certificate's issuer is neither given nor known.
    #[error(
        "issuer {issuer:?} of {cert} was not found among the certificates given or AMD's built-in ones"
    )]
    MissingIssuer {
        /// The certificate.
        cert: String,
        /// Its issuer's common name.
        issuer: String,
    },
    /// A root was supplied that is not a trusted root.
    #[error(
        "{cert} (SHA-256 {sha256}) is not a trusted root: only AMD's ARKs are trusted, or a test root named explicitly"
    )]
    UntrustedRoot {
        /// The certificate.
        cert: String,
        /// Its SHA-256.
        sha256: String,
    },
    /// A certificate has the wrong name or position for its role in the chain.
    #[error("{cert} cannot take its place in an AMD chain: {reason}")]
    CertificateRole {
        /// The certificate.
        cert: String,
        /// Why.
        reason: String,
    },
    /// A certificate is not signed with RSASSA-PSS.
    #[error(
        "{cert} is signed with algorithm {found}, not RSASSA-PSS (1.2.840.113549.1.1.10) as AMD signs"
    )]
    CertificateAlgorithm {
        /// The certificate.
        cert: String,
        /// The OID found.
        found: String,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("signature of {cert} does not verify with the key of {issuer}")]
    CertificateSignature {
        /// The certificate.
        cert: String,
        /// Its issuer.
        issuer: String,
    },
    /// A certificate is not valid yet at the verification time.
    #[error("{cert} is not valid before {not_before}, and the verification time is {at}")]
    CertificateNotYetValid {
        /// The certificate.
        cert: String,
        /// notBefore.
        not_before: OffsetDateTime,
        /// Verification time.
        at: OffsetDateTime,
    },
    /// A certificate has expired at the verification time.
    #[error(
        "{cert} expired at {not_after}, and the verification time is {at} (verify at an earlier time with --at if that is intended)"
    )]
    CertificateExpired {
        /// The certificate.
        cert: String,
        /// notAfter.
        not_after: OffsetDateTime,
        /// Verification time.
        at: OffsetDateTime,
    },
    /// A VCEK/VLEK extension is missing or malformed.
    #[error("{cert}: AMD extension {oid}: {reason}")]
    VekExtension {
        /// The certificate.
        cert: String,
        /// The extension OID.
        oid: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The report and the chain name different products.
    #[error("the report is from {report} but the certificate chain is for {chain}")]
    ProductMismatch {
        /// What the report (or VEK) says.
        report: String,
        /// The chain's product.
        chain: Product,
    },

    // ---- verify: CRL ----
    /// A CRL could not be parsed.
    #[error("CRL {origin}: {reason}")]
    CrlParse {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// A CRL is issued by another root than the chain's.
    #[error("CRL {crl} is issued by {issuer}, not by this chain's root {root}")]
    CrlIssuer {
        /// The CRL.
        crl: String,
        /// Its issuer.
        issuer: String,
        /// The chain's root.
        root: String,
    },
    /// A CRL's signature does not verify with the root's key.
    #[error("signature of CRL {crl} does not verify with the key of {root}")]
    CrlSignature {
        /// The CRL.
        crl: String,
        /// The root.
        root: String,
    },
    /// A CRL's nextUpdate has passed.
    #[error(
        "CRL {crl} is stale: its nextUpdate is {next_update} and the verification time is {at}; fetch a current one"
    )]
    CrlStale {
        /// The CRL.
        crl: String,
        /// nextUpdate.
        next_update: OffsetDateTime,
        /// Verification time.
        at: OffsetDateTime,
    },
    /// A certificate of the chain is revoked.
    #[error("{cert} (serial {serial}) is revoked by CRL {crl}")]
    CertificateRevoked {
        /// The certificate.
        cert: String,
        /// Its serial.
        serial: String,
        /// The CRL.
        crl: String,
    },

    // ---- verify: the report against its chain ----
    /// SIGNING_KEY says the report is not signed.
    #[error("the report is not signed (KEY_INFO signing key = none)")]
    ReportUnsigned,
    /// The report names one kind of key and the chain ends in another.
    #[error("the report says it is signed by its {report}, but the certificate given is a {chain}")]
    SigningKeyMismatch {
        /// Key named by the report.
        report: &'static str,
        /// Kind of certificate given.
        chain: &'static str,
    },
    /// r or s has non-zero bytes above the 48 a P-384 scalar can use.
    #[error("the report's signature is malformed: R or S exceeds 48 bytes")]
    SignatureMalformed,
    /// The ECDSA signature does not verify.
    #[error(
        "the report's signature does not verify with the VEK's key: the report was altered or the VEK is not the chip's"
    )]
    SignatureInvalid,
    /// REPORTED_TCB differs from the VEK's TCB.
    #[error(
        "REPORTED_TCB {component} SPL is {report} but the VEK was issued for {vek}: fetch the VEK for the report's REPORTED_TCB"
    )]
    TcbMismatch {
        /// Component.
        component: &'static str,
        /// SPL in the report.
        report: u8,
        /// SPL in the VEK.
        vek: u8,
    },
    /// CHIP_ID differs from the VCEK's hwID.
    #[error(
        "CHIP_ID {report} does not match the VCEK's hwID {vek}: the VCEK belongs to another chip"
    )]
    ChipIdMismatch {
        /// CHIP_ID, hex.
        report: String,
        /// hwID, hex.
        vek: String,
    },

    // ---- validate: policy ----
    /// The policy file could not be read or is malformed.
    #[error("policy {path}: {reason}")]
    PolicyFile {
        /// Path of the file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The guest allows debugging and the policy does not.
    #[error(
        "policy: the guest's POLICY allows debugging (its memory is readable by the host) and the policy does not set allow_debug = true"
    )]
    PolicyDebug,
    /// The guest allows a migration agent and the policy does not.
    #[error(
        "policy: the guest's POLICY allows a migration agent, which the policy refuses (allow_migrate_ma = true accepts it)"
    )]
    PolicyMigrationAgent,
    /// A field differs from the exact value required.
    #[error("policy: {rule} must be {expected}, the report has {found}")]
    PolicyMismatch {
        /// The rule.
        rule: &'static str,
        /// Required value.
        expected: String,
        /// Value in the report.
        found: String,
    },
    /// A value is not in the allowlist.
    #[error("policy: {found} is not among the {allowed} value(s) allowed by {rule}")]
    PolicyNotAllowed {
        /// The rule.
        rule: &'static str,
        /// Value in the report.
        found: String,
        /// Size of the allowlist.
        allowed: usize,
    },
    /// A value is below the minimum required.
    #[error("policy: {rule} requires at least {minimum}, the report has {found}")]
    PolicyBelowMinimum {
        /// The rule.
        rule: &'static str,
        /// Minimum.
        minimum: u32,
        /// Value in the report.
        found: u32,
    },
    /// A minimum is set for a TCB component the product does not have.
    #[error("policy: {rule} is set but {product} has no such TCB component")]
    PolicyComponentAbsent {
        /// The rule.
        rule: &'static str,
        /// The product.
        product: Product,
    },
    /// PLATFORM_INFO does not meet a requirement.
    #[error("policy: {rule} is not met by PLATFORM_INFO {platform_info:#x}")]
    PolicyPlatform {
        /// The rule.
        rule: &'static str,
        /// PLATFORM_INFO.
        platform_info: u64,
    },

    // ---- kds and files ----
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A KDS URL cannot be formed for this report.
    #[error("cannot name the KDS certificate for this report: {reason}")]
    KdsUrl {
        /// Why.
        reason: String,
    },
    /// The evidence channel to an AMD-SP outside the guest failed or carried malformed bytes.
    #[error("evidence channel: {reason}")]
    Channel {
        /// What happened.
        reason: String,
    },
    /// A KDS request failed.
    #[error("KDS request {url} failed: {reason}")]
    KdsFetch {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// The check that failed, in one word (the error's stable kind): `parse`, `certificates`,
    /// `chain`, `crl`, `signature`, `tcb`, `chip_id`, `policy`, `kds`, `channel` or `io`.
    pub fn check(&self) -> &'static str {
        use Error::*;
        match self {
            ReportLength { .. }
            | EnvelopeTruncated { .. }
            | EnvelopeTrailing { .. }
            | FirmwareStatus { .. }
            | UnsupportedVersion { .. }
            | UnsupportedSignatureAlgorithm { .. }
            | ReservedNonZero { .. }
            | PolicyReservedBitClear { .. }
            | SigningKeyReserved { .. }
            | UnknownCpuid { .. }
            | UnknownProduct { .. } => "parse",
            CertTable { .. }
            | CertificateParse { .. }
            | NoVek
            | MultipleVeks { .. }
            | VekExtension { .. } => "certificates",
            MissingIssuer { .. }
            | UntrustedRoot { .. }
            | CertificateRole { .. }
            | CertificateAlgorithm { .. }
            | CertificateSignature { .. }
            | CertificateNotYetValid { .. }
            | CertificateExpired { .. }
            | ProductMismatch { .. } => "chain",
            CrlParse { .. }
            | CrlIssuer { .. }
            | CrlSignature { .. }
            | CrlStale { .. }
            | CertificateRevoked { .. } => "crl",
            ReportUnsigned | SigningKeyMismatch { .. } | SignatureMalformed | SignatureInvalid => {
                "signature"
            }
            TcbMismatch { .. } => "tcb",
            ChipIdMismatch { .. } => "chip_id",
            PolicyFile { .. }
            | PolicyDebug
            | PolicyMigrationAgent
            | PolicyMismatch { .. }
            | PolicyNotAllowed { .. }
            | PolicyBelowMinimum { .. }
            | PolicyComponentAbsent { .. }
            | PolicyPlatform { .. } => "policy",
            KdsUrl { .. } | KdsFetch { .. } => "kds",
            Io { .. } => "io",
            Channel { .. } => "channel",
        }
    }

    /// The HTTP status an API answers with: 400 for bytes that are not a report or a
    /// certificate, 422 for evidence that was read and rejected (chain, CRL, signature, TCB,
    /// chip id, policy), 502 for a KDS or an AMD-SP that failed, 500 for a local file or the
    /// relying party's own policy file.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Io { .. } | Error::PolicyFile { .. } => 500,
            Error::KdsUrl { .. } => 422,
            Error::KdsFetch { .. } | Error::Channel { .. } => 502,
            _ => match self.check() {
                "parse" | "certificates" => 400,
                _ => 422,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_map_to_statuses() {
        let cases = [
            (Error::ReportLength { len: 3 }, "parse", 400),
            (Error::NoVek, "certificates", 400),
            (Error::SignatureInvalid, "signature", 422),
            (Error::PolicyDebug, "policy", 422),
            (
                Error::KdsFetch {
                    url: "u".into(),
                    reason: "down".into(),
                },
                "kds",
                502,
            ),
            (
                Error::Channel {
                    reason: "closed".into(),
                },
                "channel",
                502,
            ),
            (
                Error::PolicyFile {
                    path: "p".into(),
                    reason: "bad".into(),
                },
                "policy",
                500,
            ),
        ];
        for (e, check, status) in cases {
            assert_eq!((e.check(), e.http_status()), (check, status), "{e}");
        }
    }
}
