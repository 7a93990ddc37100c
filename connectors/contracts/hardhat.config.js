// Hardhat 2 serves a local JSON-RPC chain for the tests (`npx hardhat node`); the contract
// is compiled by compile.js with solc-js, not by Hardhat, so no compiler download is needed.
module.exports = {
  networks: {
    hardhat: { chainId: 31337 },
  },
};
