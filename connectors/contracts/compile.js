// Compiles AuditAnchor.sol with the pinned solc-js into AuditAnchor.json (committed).
// Run: `npm run compile` in this folder. tests/unit/chain/test_artifact.py fails when the
// artifact's source_sha256 no longer matches the source, so edit both together.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const NAME = "AuditAnchor";
const EVM_VERSION = "paris"; // no PUSH0: runs on every EVM chain, old and new
const here = __dirname;
const source = fs.readFileSync(path.join(here, `${NAME}.sol`), "utf8");

const input = {
  language: "Solidity",
  sources: { [`${NAME}.sol`]: { content: source } },
  settings: {
    evmVersion: EVM_VERSION,
    optimizer: { enabled: true, runs: 200 },
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);

const contract = output.contracts[`${NAME}.sol`][NAME];
const artifact = {
  contractName: NAME,
  compiler: `solc-js ${solc.version()}`,
  evmVersion: EVM_VERSION,
  optimizer: input.settings.optimizer,
  source: `${NAME}.sol`,
  source_sha256: crypto.createHash("sha256").update(source, "utf8").digest("hex"),
  abi: contract.abi,
  bytecode: "0x" + contract.evm.bytecode.object,
  deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
};
fs.writeFileSync(path.join(here, `${NAME}.json`), JSON.stringify(artifact, null, 2) + "\n");
console.log(`wrote ${NAME}.json (${artifact.compiler}, source sha256 ${artifact.source_sha256})`);
