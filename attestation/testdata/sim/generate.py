#!/usr/bin/env python3
"""Generate the simulated AMD certificate chain used by the attestation tests.

Run once; the outputs are committed so that tests need no Python. The chain imitates
AMD's real one exactly in form: RSA-4096 ARK/ASK/ASVK signed with RSASSA-PSS (SHA-384,
MGF1-SHA-384, salt 48), P-384 VCEK/VLEK leaves carrying AMD's extensions
(1.3.6.1.4.1.3704.1.x). It is NOT trusted by default: a verifier accepts it only when a
caller names `ark.pem` from this folder as a test root.

Usage: python3 generate.py  (writes into the folder of this script)
"""
import datetime
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

OUT = pathlib.Path(__file__).resolve().parent
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
NOT_BEFORE = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
NOT_AFTER_ROOT = datetime.datetime(2049, 1, 1, tzinfo=datetime.timezone.utc)
NOT_AFTER_LEAF = datetime.datetime(2031, 1, 1, tzinfo=datetime.timezone.utc)
AMD_OID = "1.3.6.1.4.1.3704.1."


def amd_name(cn):
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Engineering"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "Santa Clara"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "CA"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Advanced Micro Devices"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def der_int(v):
    body = v.to_bytes((v.bit_length() + 8) // 8 or 1, "big")
    return bytes([0x02, len(body)]) + body


def der_ia5(s):
    b = s.encode()
    return bytes([0x16, len(b)]) + b


def write_pem(name, cert):
    (OUT / name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def write_key(name, key):
    (OUT / name).write_bytes(key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))


def rsa_cert(cn, serial, key, issuer_cn, issuer_key, ca=True):
    b = (x509.CertificateBuilder().subject_name(amd_name(cn)).issuer_name(amd_name(issuer_cn))
         .public_key(key.public_key()).serial_number(serial)
         .not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER_ROOT)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=False))
    return b.sign(issuer_key, hashes.SHA384(), rsa_padding=PSS)


def vek_cert(cn, key, issuer_cn, issuer_key, tcb, hwid=None, csp=None):
    b = (x509.CertificateBuilder().subject_name(amd_name(cn)).issuer_name(amd_name(issuer_cn))
         .public_key(key.public_key()).serial_number(1)  # AMD uses 0; this library refuses it
         .not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER_LEAF))
    exts = [(AMD_OID + "1", der_int(0)), (AMD_OID + "2", der_ia5("Milan-B0")),
            (AMD_OID + "3.1", der_int(tcb["bl"])), (AMD_OID + "3.2", der_int(tcb["tee"])),
            (AMD_OID + "3.3", der_int(tcb["snp"])), (AMD_OID + "3.4", der_int(0)),
            (AMD_OID + "3.5", der_int(0)), (AMD_OID + "3.6", der_int(0)),
            (AMD_OID + "3.7", der_int(0)), (AMD_OID + "3.8", der_int(tcb["ucode"]))]
    if hwid is not None:
        exts.append((AMD_OID + "4", bytes([0x04, 0x40]) + hwid))
    if csp is not None:
        exts.append((AMD_OID + "5", der_ia5(csp)))
    for oid, value in exts:
        b = b.add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), critical=False)
    return b.sign(issuer_key, hashes.SHA384(), rsa_padding=PSS)


def crl(issuer_key, revoked_serials):
    b = (x509.CertificateRevocationListBuilder().issuer_name(amd_name("ARK-Milan"))
         .last_update(NOT_BEFORE).next_update(datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)))
    for s in revoked_serials:
        b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(s)
                                      .revocation_date(NOT_BEFORE + datetime.timedelta(days=30)).build())
    return b.sign(issuer_key, hashes.SHA384(), rsa_padding=PSS)


def main():
    ark = rsa.generate_private_key(65537, 4096)
    ask = rsa.generate_private_key(65537, 4096)
    asvk = rsa.generate_private_key(65537, 4096)
    write_pem("ark.pem", rsa_cert("ARK-Milan", 0x10000, ark, "ARK-Milan", ark))
    write_pem("ask.pem", rsa_cert("SEV-Milan", 0x10001, ask, "ARK-Milan", ark))
    write_pem("asvk.pem", rsa_cert("SEV-VLEK-Milan", 0x10101, asvk, "ARK-Milan", ark))

    # At the Milan floor a policy without [min_tcb] enforces (AMD-SB-3019).
    tcb = {"bl": 4, "tee": 0, "snp": 24, "ucode": 219}
    hwid = bytes(range(0x40, 0x80))
    vcek = ec.generate_private_key(ec.SECP384R1())
    write_pem("vcek.pem", vek_cert("SEV-VCEK", vcek, "SEV-Milan", ask, tcb, hwid=hwid))
    write_key("vcek.pk8", vcek)
    vlek = ec.generate_private_key(ec.SECP384R1())
    write_pem("vlek.pem", vek_cert("SEV-VLEK", vlek, "SEV-VLEK-Milan", asvk, tcb, csp="CN=sim.example"))
    write_key("vlek.pk8", vlek)

    (OUT / "crl-empty.der").write_bytes(crl(ark, []).public_bytes(serialization.Encoding.DER))
    (OUT / "crl-revokes-ask.der").write_bytes(crl(ark, [0x10001]).public_bytes(serialization.Encoding.DER))
    (OUT / "crl-revokes-asvk.der").write_bytes(crl(ark, [0x10101]).public_bytes(serialization.Encoding.DER))


if __name__ == "__main__":
    main()
