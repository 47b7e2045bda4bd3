//! The key service: issues nonces, verifies the enclave's report (AMD chain, TCB, policy with the
//! expected measurement), checks that REPORT_DATA binds the nonce and the enclave's X25519 key,
//! and only then seals the data key to that key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use assay_attestation::Verifier;
use assay_attestation::verify::Certificate;
use assay_forge::binding::key_release_report_data;
use time::OffsetDateTime;

use crate::nonces::{DEFAULT_CAP, NonceTable};
use crate::protocol::{Challenge, KeyRequest, KeyResponse};
use crate::wrap::wrap_key;
use crate::{DataKey, Error};

/// A key service holding data keys by resource name.
pub struct KeyService {
    verifier: Verifier,
    resources: HashMap<String, DataKey>,
    ttl: Duration,
    nonces: Mutex<NonceTable>,
}

impl std::fmt::Debug for KeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyService")
            .field("resources", &self.resources.keys().collect::<Vec<_>>())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl KeyService {
    /// A service releasing `resources` to enclaves whose reports `verifier` accepts (its `at` is
    /// replaced by the current time at each request); nonces live `ttl`.
    ///
    /// Refused unless the verifier's policy pins at least one MEASUREMENT: without one, any
    /// guest on a genuine AMD chip, whatever it runs, could take the holdout key.
    pub fn new(
        verifier: Verifier,
        resources: HashMap<String, DataKey>,
        ttl: Duration,
    ) -> Result<Self, Error> {
        if verifier
            .policy
            .measurements
            .as_ref()
            .is_none_or(|m| m.is_empty())
        {
            return Err(Error::UnpinnedPolicy);
        }
        Ok(KeyService {
            verifier,
            resources,
            ttl,
            nonces: Mutex::new(NonceTable::new(ttl, DEFAULT_CAP)),
        })
    }

    /// Whether it trusts a test root besides AMD's (a simulated AMD-SP's): then it must be loud
    /// about it and serve on loopback only ([`crate::http::serve`]).
    pub fn trusts_test_root(&self) -> bool {
        self.verifier.trust.trusts_test_root()
    }

    /// A fresh, single-use nonce.
    pub fn challenge(&self) -> Challenge {
        let mut nonce = [0u8; 32];
        aws_lc_rs::rand::fill(&mut nonce).expect("the system RNG works");
        self.nonces.lock().expect("nonce table").issue(nonce);
        Challenge {
            nonce,
            expires_in: self.ttl.as_secs(),
        }
    }

    /// Verifies `request` and, if everything holds, seals the resource's key to the enclave.
    /// The nonce is spent by any attempt, successful or not.
    pub fn release(&self, request: &KeyRequest) -> Result<KeyResponse, Error> {
        let issued = self
            .nonces
            .lock()
            .expect("nonce table")
            .take(&request.nonce);
        match issued {
            None => return Err(Error::NonceUnknown),
            Some(t) if t.elapsed() >= self.ttl => {
                return Err(Error::NonceExpired {
                    ttl: self.ttl.as_secs(),
                });
            }
            Some(_) => {}
        }
        let key = self
            .resources
            .get(&request.resource)
            .ok_or_else(|| Error::UnknownResource {
                resource: request.resource.clone(),
            })?;
        let certificates = request
            .certificates
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let der = hex::decode(h).map_err(|_| Error::Request {
                    reason: format!("certificates[{i}] is not hex"),
                })?;
                Certificate::from_der(&der, format!("certificates[{i}]")).map_err(Error::Report)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut verifier = self.verifier.clone();
        verifier.at = OffsetDateTime::now_utc();
        let accepted = verifier
            .verify(&request.report, &certificates)
            .map_err(|r| Error::Report(r.error))?;
        let want = key_release_report_data(&request.nonce, &request.x25519, request.enclave);
        if accepted.report.report_data != want {
            return Err(Error::ReportDataMismatch);
        }
        Ok(KeyResponse {
            resource: request.resource.clone(),
            wrapped: wrap_key(key, &request.x25519, &request.nonce, &request.resource)?,
        })
    }
}
