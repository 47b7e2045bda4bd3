//! AMD's X.509 extensions on VCEK and VLEK certificates (OID arc 1.3.6.1.4.1.3704.1).

use x509_parser::der_parser::ber::BerObjectContent;
use x509_parser::der_parser::der::parse_der;
use x509_parser::prelude::X509Certificate;

use crate::Error;
use crate::abi::Tcb;

const OID_STRUCT_VERSION: &str = "1.3.6.1.4.1.3704.1.1";
const OID_PRODUCT_NAME: &str = "1.3.6.1.4.1.3704.1.2";
const OID_BL_SPL: &str = "1.3.6.1.4.1.3704.1.3.1";
const OID_TEE_SPL: &str = "1.3.6.1.4.1.3704.1.3.2";
const OID_SNP_SPL: &str = "1.3.6.1.4.1.3704.1.3.3";
const OID_UCODE_SPL: &str = "1.3.6.1.4.1.3704.1.3.8";
const OID_FMC_SPL: &str = "1.3.6.1.4.1.3704.1.3.9";
const OID_HWID: &str = "1.3.6.1.4.1.3704.1.4";
const OID_CSP_ID: &str = "1.3.6.1.4.1.3704.1.5";

/// What a VCEK or VLEK certificate says about the chip and TCB it was issued for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VekExtensions {
    /// structVersion.
    pub struct_version: Option<u32>,
    /// productName, e.g. "Milan-B0", "Genoa", "Turin".
    pub product_name: Option<String>,
    /// blSPL, teeSPL, snpSPL, ucodeSPL and (Turin) fmcSPL.
    pub tcb: Tcb,
    /// hwID: the chip id (64 bytes; 8 on Turin). Absent on VLEKs.
    pub hwid: Option<Vec<u8>>,
    /// cspId: the cloud provider a VLEK was issued to.
    pub csp_id: Option<String>,
}

fn ext_error(origin: &str, oid: &'static str, reason: impl Into<String>) -> Error {
    Error::VekExtension {
        cert: origin.to_owned(),
        oid,
        reason: reason.into(),
    }
}

fn integer(origin: &str, oid: &'static str, value: &[u8]) -> Result<u32, Error> {
    let (_, obj) = parse_der(value).map_err(|e| ext_error(origin, oid, format!("not DER: {e}")))?;
    obj.as_u32()
        .map_err(|_| ext_error(origin, oid, "not a small INTEGER"))
}

fn spl(origin: &str, oid: &'static str, value: &[u8]) -> Result<u8, Error> {
    let v = integer(origin, oid, value)?;
    u8::try_from(v).map_err(|_| ext_error(origin, oid, format!("SPL {v} exceeds 255")))
}

fn string(origin: &str, oid: &'static str, value: &[u8]) -> Result<String, Error> {
    let (_, obj) = parse_der(value).map_err(|e| ext_error(origin, oid, format!("not DER: {e}")))?;
    match obj.content {
        BerObjectContent::IA5String(s)
        | BerObjectContent::UTF8String(s)
        | BerObjectContent::PrintableString(s) => Ok(s.to_owned()),
        _ => Err(ext_error(origin, oid, "not a string")),
    }
}

/// The hwID is stored raw (64 bytes; 8 on Turin) by AMD's KDS, or wrapped in an OCTET STRING by
/// some other issuers; both are accepted.
fn hwid(origin: &str, value: &[u8]) -> Result<Vec<u8>, Error> {
    match value {
        [0x04, len, rest @ ..]
            if usize::from(*len) == rest.len() && matches!(rest.len(), 8 | 64) =>
        {
            Ok(rest.to_vec())
        }
        raw if matches!(raw.len(), 8 | 64) => Ok(raw.to_vec()),
        other => Err(ext_error(
            origin,
            OID_HWID,
            format!("{} bytes, expected a 64- or 8-byte chip id", other.len()),
        )),
    }
}

impl VekExtensions {
    pub(crate) fn parse(cert: &X509Certificate<'_>, origin: &str) -> Result<Self, Error> {
        let mut out = VekExtensions {
            struct_version: None,
            product_name: None,
            tcb: Tcb::default(),
            hwid: None,
            csp_id: None,
        };
        let mut seen = [false; 4];
        for ext in cert.extensions() {
            let oid = ext.oid.to_id_string();
            let v = ext.value;
            match oid.as_str() {
                OID_STRUCT_VERSION => {
                    out.struct_version = Some(integer(origin, OID_STRUCT_VERSION, v)?)
                }
                OID_PRODUCT_NAME => out.product_name = Some(string(origin, OID_PRODUCT_NAME, v)?),
                OID_BL_SPL => (out.tcb.bootloader, seen[0]) = (spl(origin, OID_BL_SPL, v)?, true),
                OID_TEE_SPL => (out.tcb.tee, seen[1]) = (spl(origin, OID_TEE_SPL, v)?, true),
                OID_SNP_SPL => (out.tcb.snp, seen[2]) = (spl(origin, OID_SNP_SPL, v)?, true),
                OID_UCODE_SPL => {
                    (out.tcb.microcode, seen[3]) = (spl(origin, OID_UCODE_SPL, v)?, true)
                }
                OID_FMC_SPL => out.tcb.fmc = Some(spl(origin, OID_FMC_SPL, v)?),
                OID_HWID => out.hwid = Some(hwid(origin, v)?),
                OID_CSP_ID => out.csp_id = Some(string(origin, OID_CSP_ID, v)?),
                _ => {}
            }
        }
        for (present, oid) in
            seen.into_iter()
                .zip([OID_BL_SPL, OID_TEE_SPL, OID_SNP_SPL, OID_UCODE_SPL])
        {
            if !present {
                return Err(ext_error(origin, oid, "missing"));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hwid_encodings() {
        let raw: Vec<u8> = (0..64).collect();
        assert_eq!(hwid("t", &raw).unwrap(), raw);
        let mut wrapped = vec![0x04, 0x40];
        wrapped.extend(&raw);
        assert_eq!(hwid("t", &wrapped).unwrap(), raw);
        let turin = [0x3b, 0x42, 0x09, 0x2f, 0x69, 0xc6, 0x56, 0xd3];
        assert_eq!(hwid("t", &turin).unwrap(), turin);
        assert!(matches!(
            hwid("t", &raw[..10]),
            Err(Error::VekExtension { oid: OID_HWID, .. })
        ));
    }

    #[test]
    fn spl_values() {
        assert_eq!(spl("t", OID_BL_SPL, &[0x02, 0x01, 0x03]).unwrap(), 3);
        // 200 needs a sign-padding byte in DER.
        assert_eq!(
            spl("t", OID_UCODE_SPL, &[0x02, 0x02, 0x00, 0xc8]).unwrap(),
            200
        );
        assert!(matches!(
            spl("t", OID_UCODE_SPL, &[0x02, 0x02, 0x01, 0x00]),
            Err(Error::VekExtension { .. })
        ));
        assert!(matches!(
            spl("t", OID_UCODE_SPL, &[0x16, 0x01, 0x41]),
            Err(Error::VekExtension { .. })
        ));
    }
}
