// The EIP-712 digest, the signature and the submitEvalResult(V2) calldata of a bundle, computed
// by ethers v6 from the type definitions written out below (independently of the Rust `sol!`
// types): `EvalResult` for a version-1 result, `EvalResultV2` (version 1's fields, then the job
// and holdout it commits to) for a version-2 one.
// Usage: node ethers_oracle.js BUNDLE.json PRIVATE_KEY_HEX   (NODE_PATH must reach `ethers`)
const fs = require("fs");
const { TypedDataEncoder, Wallet, Interface, parseUnits, Signature } = require("ethers");

const bundle = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const key = process.argv[3];
const r = bundle.result;

const v1Fields = [
    { name: "forgeId", type: "bytes32" },
    { name: "codeHash", type: "bytes32" },
    { name: "recipeHash", type: "bytes32" },
    { name: "dataRoot", type: "bytes32" },
    { name: "nonce", type: "bytes32" },
    { name: "tee", type: "bool" },
    { name: "method", type: "uint8" },
    { name: "groups", type: "uint32" },
    { name: "baseline", type: "Metric" },
    { name: "scores", type: "Score[]" },
    { name: "computeBps", type: "uint16" },
    { name: "compute", type: "ComputeShare[]" },
    { name: "unallocatedBps", type: "uint16" },
];
const v2 = Boolean(r.job);
const name = v2 ? "EvalResultV2" : "EvalResult";
const types = {
  [name]: v2
    ? v1Fields.concat([
        { name: "jobHash", type: "bytes32" },
        { name: "holdoutKeyId", type: "bytes16" },
        { name: "holdoutHash", type: "bytes32" },
      ])
    : v1Fields,
  Metric: [
    { name: "name", type: "string" },
    { name: "lowerIsBetter", type: "bool" },
    { name: "value", type: "int256" },
  ],
  Score: [
    { name: "contributor", type: "address" },
    { name: "contentHash", type: "bytes32" },
    { name: "score", type: "int256" },
    { name: "shares", type: "uint16" },
  ],
  ComputeShare: [
    { name: "provider", type: "address" },
    { name: "units", type: "uint64" },
    { name: "shares", type: "uint16" },
  ],
};

const value = {
  forgeId: r.forge_id,
  codeHash: r.code_hash,
  recipeHash: r.recipe_hash,
  dataRoot: r.data_root,
  nonce: r.nonce,
  tee: r.tee,
  method: { exact_loo: 0, stratified_loo: 1 }[r.method],
  groups: r.groups,
  baseline: {
    name: r.baseline_metric.name,
    lowerIsBetter: r.baseline_metric.direction === "lower_is_better",
    value: parseUnits(r.baseline_metric.value, 18),
  },
  scores: r.scores.map((s) => ({
    contributor: s.contributor,
    contentHash: s.content_hash,
    score: parseUnits(s.score, 18),
    shares: s.shares,
  })),
  computeBps: r.compute_bps,
  compute: r.compute.map((c) => ({ provider: c.provider, units: BigInt(c.units), shares: c.shares })),
  unallocatedBps: r.unallocated_bps,
};
if (v2) {
  value.jobHash = r.job.job_hash;
  value.holdoutKeyId = r.job.holdout_key_id;
  value.holdoutHash = r.job.holdout_sha256;
}

const domain = {
  name: bundle.domain.name,
  version: bundle.domain.version,
  chainId: bundle.domain.chain_id,
  verifyingContract: bundle.domain.verifying_contract,
};

const digest = TypedDataEncoder.hash(domain, types, value);
const wallet = new Wallet(key);
const signature = wallet.signingKey.sign(digest).serialized;

const v1Tuple =
  "bytes32 forgeId, bytes32 codeHash, bytes32 recipeHash, bytes32 dataRoot, bytes32 nonce, bool tee, uint8 method, uint32 groups, (string name, bool lowerIsBetter, int256 value) baseline, (address contributor, bytes32 contentHash, int256 score, uint16 shares)[] scores, uint16 computeBps, (address provider, uint64 units, uint16 shares)[] compute, uint16 unallocatedBps";
const tuple = v2
  ? `(${v1Tuple}, bytes32 jobHash, bytes16 holdoutKeyId, bytes32 holdoutHash)`
  : `(${v1Tuple})`;
const fn = v2 ? "submitEvalResultV2" : "submitEvalResult";
const iface = new Interface([
  `function ${fn}(${tuple} result, bytes signature, bytes report, bytes[] certificates)`,
]);
const calldata = iface.encodeFunctionData(fn, [
  value,
  bundle.signature,
  bundle.report || "0x",
  bundle.certificates,
]);

console.log(
  JSON.stringify({
    domain_separator: TypedDataEncoder.hashDomain(domain),
    struct_hash: TypedDataEncoder.from(types).hash(value),
    encode_type: TypedDataEncoder.from(types).encodeType(name),
    digest,
    address: wallet.address,
    signature,
    recovered: Signature.from(bundle.signature) && require("ethers").recoverAddress(digest, bundle.signature),
    calldata,
  }),
);
