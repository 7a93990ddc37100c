// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Anchors of the hub's audit logs
/// @notice The hub's key (the owner) publishes signed tree heads of each tenant's RFC 6962
/// audit log. Nothing is stored: the event in the transaction's receipt is the anchor, so an
/// anchor costs the same gas whatever the size of the log.
contract AuditAnchor {
    /// @notice Who may anchor: the account that deployed the contract, until transferred.
    address public owner;

    /// @param tenant keccak256 of the tenant's slug
    /// @param root the Merkle tree head (RFC 6962 root hash) of the tenant's log
    /// @param treeSize how many entries that tree holds
    /// @param timestamp the block's timestamp
    event Anchored(bytes32 indexed tenant, bytes32 root, uint64 treeSize, uint64 timestamp);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error NotOwner();
    error ZeroAddress();

    constructor() {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    function anchor(bytes32 tenant, bytes32 root, uint64 treeSize) external onlyOwner {
        emit Anchored(tenant, root, treeSize, uint64(block.timestamp));
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }
}
