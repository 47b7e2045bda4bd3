//! Verifying a chain from its parts (docs/alloy.md, "Verification"): every link decodes and its
//! signature holds, the links follow each other, and what is missing is named by its full id.
//! Whether the signers are trusted is [`crate::keyring`]'s question, asked separately.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Rule};
use crate::link::{LinkId, SignedLink};
use crate::part::Part;

/// One input to the verifier.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// A chain file's (or a part's) CBOR.
    Cbor(&'a [u8]),
    /// A code's text, `AL1:…`.
    Text(&'a str),
}

/// A rule broken, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// The input it concerns (0-based, in the order given), for an input that did not decode.
    pub input: Option<usize>,
    /// The link it concerns (0-based position in the chain as received).
    pub link: Option<usize>,
    /// The missing link's full id, for `qr.missing`, when the codes name it.
    pub missing: Option<LinkId>,
    /// In words.
    pub detail: String,
}

/// One link as received.
#[derive(Clone, Debug)]
pub struct Received {
    /// Its part.
    pub part: u64,
    /// The decoded link, when it decodes.
    pub link: Result<SignedLink, Rule>,
}

/// What the verifier found.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// The links in chain order (parts in index order).
    pub links: Vec<Received>,
    /// The head the parts name.
    pub head: Option<LinkId>,
    /// How many parts the chain has, and which were received.
    pub parts: (u64, BTreeSet<u64>),
    /// Every rule broken.
    pub findings: Vec<Finding>,
}

impl Verdict {
    /// Every link received decodes, its signature holds, and the links follow each other:
    /// nothing but a missing part is wrong.
    pub fn valid(&self) -> bool {
        self.findings.iter().all(|f| f.rule == Rule::QrMissing)
    }

    /// Every part is there.
    pub fn complete(&self) -> bool {
        !self.findings.iter().any(|f| f.rule == Rule::QrMissing) && !self.links.is_empty()
    }

    /// The distinct rules broken, sorted by code.
    pub fn rules(&self) -> BTreeSet<&'static str> {
        self.findings.iter().map(|f| f.rule.code()).collect()
    }

    /// The links that decoded, in chain order.
    pub fn decoded(&self) -> impl Iterator<Item = &SignedLink> {
        self.links.iter().filter_map(|r| r.link.as_ref().ok())
    }

    fn find(&mut self, rule: Rule, link: Option<usize>, detail: String) {
        self.findings.push(Finding {
            rule,
            input: None,
            link,
            missing: None,
            detail,
        });
    }
}

fn rule_of(e: &Error) -> Rule {
    e.broken_rule().unwrap_or(Rule::QrPart)
}

/// A signer and the prev it signed after: two links with the same are a fork.
type SignerAfter = ([u8; 32], Option<LinkId>);

/// Verifies a chain from its inputs, in any order: chain files, code texts or both.
pub fn verify<'a>(inputs: impl IntoIterator<Item = Input<'a>>) -> Verdict {
    let mut v = Verdict::default();
    let mut parts: BTreeMap<u64, Part> = BTreeMap::new();
    let mut reference: Option<(LinkId, u64)> = None;
    for (i, input) in inputs.into_iter().enumerate() {
        let part = match input {
            Input::Cbor(b) => Part::decode(b),
            // A scanned or pasted code may end in a line break; spaces are Base45 and stay.
            Input::Text(t) => Part::from_text(t.trim_end_matches(['\r', '\n'])),
        };
        let part = match part {
            Ok(p) => p,
            Err(e) => {
                v.findings.push(Finding {
                    rule: rule_of(&e),
                    input: Some(i),
                    link: None,
                    missing: None,
                    detail: format!("input {}: {e}", i + 1),
                });
                continue;
            }
        };
        let (head, count) = *reference.get_or_insert((part.head, part.count));
        if (part.head, part.count) != (head, count) {
            v.findings.push(Finding {
                rule: Rule::QrMixed,
                input: Some(i),
                link: None,
                missing: None,
                detail: format!(
                    "input {} is part {} of {} of the chain with head {}, not of {count} with head {head}",
                    i + 1,
                    part.index,
                    part.count,
                    part.head
                ),
            });
            continue;
        }
        match parts.get(&part.index) {
            // The same code scanned twice is no fault.
            Some(p) if *p == part => {}
            Some(_) => v.findings.push(Finding {
                rule: Rule::QrDuplicate,
                input: Some(i),
                link: None,
                missing: None,
                detail: format!(
                    "input {} is a second, different part {} of {count}",
                    i + 1,
                    part.index
                ),
            }),
            None => {
                parts.insert(part.index, part);
            }
        }
    }
    let Some((head, count)) = reference else {
        if v.findings.is_empty() {
            v.find(Rule::ChainEmpty, None, "no input".into());
        }
        return v;
    };
    v.head = Some(head);
    v.parts = (count, parts.keys().copied().collect());

    // The links in order; where a part is missing, the next present link's prev names the
    // missing part's last link (and the head names the last part's).
    let mut gap_before: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    let mut expected = 1;
    for (index, part) in &parts {
        if expected < *index {
            gap_before.insert(v.links.len(), (expected..*index).collect());
        }
        expected = index + 1;
        for bytes in &part.links {
            let link = SignedLink::decode(bytes).map_err(|e| rule_of(&e));
            v.links.push(Received { part: *index, link });
        }
    }

    let mut keys: BTreeMap<[u8; 32], Result<ed25519_dalek::VerifyingKey, Rule>> = BTreeMap::new();
    for i in 0..v.links.len() {
        // A missing part before this link is reported whether or not the link decodes; only
        // the gap's last part is named by an id, the prev of the link after it.
        let gap = gap_before.get(&i).cloned();
        if let Some(gap) = &gap {
            let prev = v.links[i].link.as_ref().ok().and_then(|l| l.link().prev);
            for (k, missing_part) in gap.iter().enumerate() {
                let missing = if k + 1 == gap.len() { prev } else { None };
                let detail = match missing {
                    Some(prev) => format!(
                        "part {missing_part} of {count} is missing: it ends with link {prev}"
                    ),
                    None => format!(
                        "part {missing_part} of {count} is missing (before link {})",
                        i + 1
                    ),
                };
                v.findings.push(Finding {
                    rule: Rule::QrMissing,
                    input: None,
                    link: Some(i),
                    missing,
                    detail,
                });
            }
        }
        let link = match &v.links[i].link {
            Ok(l) => l.clone(),
            Err(rule) => {
                let rule = *rule;
                v.find(
                    rule,
                    Some(i),
                    format!("link {} does not decode: {}", i + 1, rule.what()),
                );
                continue;
            }
        };
        let key = keys
            .entry(link.link().signer)
            .or_insert_with(|| crate::ed25519::verifying_key(&link.link().signer));
        if let Err(rule) = key
            .as_ref()
            .map_err(|r| *r)
            .and_then(|k| link.verify_signature_with(k))
        {
            v.find(
                rule,
                Some(i),
                format!("link {} ({}): {}", i + 1, link.id(), rule.what()),
            );
        }
        let l = link.link();
        if gap.is_some() {
            if l.prev.is_none() {
                v.find(
                    Rule::ChainFirstPrev,
                    Some(i),
                    format!("link {} has no prev but follows a missing part", i + 1),
                );
            }
            continue;
        }
        if i == 0 {
            if let Some(prev) = l.prev {
                v.find(
                    Rule::ChainFirstPrev,
                    Some(0),
                    format!("the first link has prev {prev}"),
                );
            }
            continue;
        }
        let Ok(before) = &v.links[i - 1].link else {
            continue;
        };
        let before = before.clone();
        if l.prev != Some(before.id()) {
            v.find(
                Rule::ChainPrev,
                Some(i),
                format!(
                    "link {} has prev {}, the link before it is {}",
                    i + 1,
                    l.prev.map_or("null".into(), |p| p.to_string()),
                    before.id()
                ),
            );
        }
        if l.kind.chained_input() && l.input_hash != before.link().output_hash {
            v.find(
                Rule::ChainInput,
                Some(i),
                format!(
                    "link {} takes in {}, link {} put out {}",
                    i + 1,
                    hex::encode(l.input_hash),
                    i,
                    hex::encode(before.link().output_hash)
                ),
            );
        }
        if l.timestamp < before.link().timestamp {
            v.find(
                Rule::ChainTimestamp,
                Some(i),
                format!(
                    "link {} is dated {}, before link {} ({})",
                    i + 1,
                    l.timestamp,
                    i,
                    before.link().timestamp
                ),
            );
        }
    }

    if parts.contains_key(&count) {
        if let Some(Received { link: Ok(last), .. }) = v.links.last() {
            if last.id() != head {
                let detail = format!("the last link is {}, the codes name head {head}", last.id());
                v.find(Rule::ChainHead, Some(v.links.len() - 1), detail);
            }
        }
    } else {
        let at = v.links.len();
        v.findings.push(Finding {
            rule: Rule::QrMissing,
            input: None,
            link: None,
            missing: Some(head),
            detail: format!("part {count} of {count} is missing: it ends with link {head}"),
        });
        // Parts between the last received one and the last are missing too.
        for missing in expected..count {
            v.findings.push(Finding {
                rule: Rule::QrMissing,
                input: None,
                link: None,
                missing: None,
                detail: format!("part {missing} of {count} is missing (after link {at})"),
            });
        }
    }

    // A key that signed two different links with the same prev: every link after the first
    // that has an earlier, different one beside it.
    let mut seen: BTreeMap<SignerAfter, Vec<(usize, LinkId)>> = BTreeMap::new();
    let mut forks = vec![];
    for (i, r) in v.links.iter().enumerate() {
        let Ok(l) = &r.link else { continue };
        let key = (l.link().signer, l.link().prev);
        let earlier = seen.entry(key).or_default();
        if let Some(&(j, other)) = earlier.iter().find(|(_, id)| *id != l.id()) {
            forks.push(Finding {
                rule: Rule::ChainFork,
                input: None,
                link: Some(i),
                missing: None,
                detail: format!(
                    "key {} signed links {} ({other}) and {} ({}) after the same prev",
                    hex::encode(key.0),
                    j + 1,
                    i + 1,
                    l.id()
                ),
            });
        }
        earlier.push((i, l.id()));
    }
    v.findings.extend(forks);
    v
}
