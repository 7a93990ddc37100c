// The audit page: check an entry in this browser, trusting nothing the hub says about it.
//
// For an entry it fetches (from the console's own routes, with the session cookie) the
// entry, the signed tree head, the entry's inclusion proof in that head's tree and the
// hub's public key, then:
//   1. leaf: SHA-256(0x00 || RFC 8785 canonical JSON of the entry without leaf_hash);
//   2. root: the audit path from that leaf (RFC 9162 2.1.3.2, node = SHA-256(0x01||l||r))
//      must end at the signed head's root, for a tree of the head's size;
//   3. signature: the head's Ed25519 signature over the RFC 8785 form of
//      {tenant, tree_size, root_hash, timestamp}, with the key whose id the head names.
// Then it asks for the entry's receipt: the anchor of the first anchored tree holding it.
// Hashing and the signature use WebCrypto; a browser without Ed25519 says so.
(function () {
  "use strict";

  // The checks, for other pages that verify audit receipts (the partner portal's
  // collaboration receipt: static/collaboration.js). Function declarations: hoisted.
  window.hubAudit = { checkAll: checkAll, verdict: verdict };
  var section = document.getElementById("audit-entries");
  if (!section) {
    return;
  }
  var tenant = section.dataset.tenant;
  var headUrl = section.dataset.headUrl;
  var keyUrl = section.dataset.keyUrl;
  var keyPromise = null;

  // --- RFC 8785 (JCS): ECMAScript's own number and string forms, keys in UTF-16 order ---
  function canonical(value) {
    if (value === null || typeof value !== "object") {
      if (typeof value === "number" && !isFinite(value)) {
        throw new Error("not JSON: " + value);
      }
      return JSON.stringify(value);
    }
    if (Array.isArray(value)) {
      return "[" + value.map(canonical).join(",") + "]";
    }
    var keys = Object.keys(value).sort();
    return "{" + keys.map(function (k) {
      return JSON.stringify(k) + ":" + canonical(value[k]);
    }).join(",") + "}";
  }

  function utf8(text) {
    return new TextEncoder().encode(text);
  }

  function concat(parts) {
    var size = parts.reduce(function (n, p) { return n + p.length; }, 0);
    var out = new Uint8Array(size);
    var at = 0;
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }

  function toHex(bytes) {
    return Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? "0" : "") + b.toString(16);
    }).join("");
  }

  function fromHex(text, size) {
    if (typeof text !== "string" || !/^([0-9a-fA-F]{2})*$/.test(text) || text.length !== 2 * size) {
      return null;
    }
    var out = new Uint8Array(size);
    for (var i = 0; i < size; i++) {
      out[i] = parseInt(text.substr(2 * i, 2), 16);
    }
    return out;
  }

  function fromBase64(text) {
    try {
      var raw = atob(text);
      var out = new Uint8Array(raw.length);
      for (var i = 0; i < raw.length; i++) {
        out[i] = raw.charCodeAt(i);
      }
      return out;
    } catch (e) {
      return null;
    }
  }

  function short(hex) {
    return typeof hex === "string" && hex.length > 16 ? hex.slice(0, 16) + "…" : String(hex);
  }

  function sameBytes(a, b) {
    if (!a || !b || a.length !== b.length) {
      return false;
    }
    for (var i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) {
        return false;
      }
    }
    return true;
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  async function leafHash(entry) {
    var content = {};
    Object.keys(entry).forEach(function (k) {
      if (k !== "leaf_hash") {
        content[k] = entry[k];
      }
    });
    return sha256(concat([new Uint8Array([0]), utf8(canonical(content))]));
  }

  function nodeHash(left, right) {
    return sha256(concat([new Uint8Array([1]), left, right]));
  }

  // RFC 9162 2.1.3.2: the root the audit path leads to from leaf `index` of a tree of
  // `size`, or null when the path cannot be one of such a tree. Arithmetic, not bit
  // operators: sizes may pass 2^31.
  async function rootFromPath(leaf, index, size, path) {
    if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size)) || index < 0 || index >= size) {
      return null;
    }
    var fn = index;
    var sn = size - 1;
    var r = leaf;
    for (var i = 0; i < path.length; i++) {
      if (sn === 0) {
        return null;
      }
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(path[i], r);
        while (!(fn % 2 === 1 || fn === 0)) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      } else {
        r = await nodeHash(r, path[i]);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 ? r : null;
  }

  // --- fetching from the console's routes ---
  function FetchError(status, message) {
    this.status = status;
    this.message = message;
  }

  async function getJson(url) {
    var response;
    try {
      response = await fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        redirect: "error", // the sign-in page is not an answer
      });
    } catch (e) {
      throw new FetchError(0, "the hub could not be reached, or the session ended (reload the page)");
    }
    var type = response.headers.get("content-type") || "";
    var body = type.indexOf("json") >= 0 ? await response.json() : null;
    if (!response.ok) {
      var detail = body && typeof body.detail === "string" ? body.detail : "HTTP " + response.status;
      throw new FetchError(response.status, detail);
    }
    if (body === null || typeof body !== "object") {
      throw new FetchError(response.status, "the hub did not answer with JSON");
    }
    return body;
  }

  function publicKey() {
    if (keyPromise === null) {
      keyPromise = getJson(keyUrl).catch(function (err) {
        keyPromise = null;
        throw err;
      });
    }
    return keyPromise;
  }

  // --- the three checks ---
  function ok(text) { return { state: "ok", text: text }; }
  function failed(text) { return { state: "failed", text: text }; }
  function skipped(text) { return { state: "skipped", text: text }; }

  async function checkLeaf(seq, entry, proof) {
    var computed = await leafHash(entry);
    var hex = toHex(computed);
    if (entry.seq !== seq) {
      return { result: failed("failed: the hub answered entry " + entry.seq + ", not " + seq), leaf: computed };
    }
    if (entry.leaf_hash !== undefined && entry.leaf_hash !== hex) {
      return {
        result: failed("failed: the entry hashes to " + short(hex) + " but its leaf hash is " + short(entry.leaf_hash) + " (the entry was changed)"),
        leaf: computed,
      };
    }
    if (proof.leaf_hash !== undefined && proof.leaf_hash !== hex) {
      return {
        result: failed("failed: the proof is for leaf " + short(proof.leaf_hash) + ", the entry hashes to " + short(hex)),
        leaf: computed,
      };
    }
    return { result: ok("ok (" + short(hex) + ")"), leaf: computed };
  }

  async function checkRoot(seq, leaf, proof, head) {
    if (proof.leaf_index !== seq - 1) {
      return failed("failed: the proof is for leaf index " + proof.leaf_index + ", entry " + seq + " is leaf " + (seq - 1));
    }
    if (proof.tree_size !== head.tree_size) {
      return failed("failed: the proof is for a tree of " + proof.tree_size + " entries, the signed head is of " + head.tree_size);
    }
    var root = fromHex(head.root_hash, 32);
    var path = Array.isArray(proof.audit_path) ? proof.audit_path.map(function (h) { return fromHex(h, 32); }) : null;
    if (root === null || path === null || path.indexOf(null) >= 0) {
      return failed("failed: the proof or the head is malformed");
    }
    var computed = await rootFromPath(leaf, proof.leaf_index, proof.tree_size, path);
    if (computed === null) {
      return failed("failed: the audit path does not fit a tree of " + proof.tree_size + " entries");
    }
    if (!sameBytes(computed, root)) {
      return failed("failed: the audit path leads to root " + short(toHex(computed)) + ", the signed head's root is " + short(head.root_hash));
    }
    return ok("ok (root " + short(head.root_hash) + " of " + head.tree_size + " entries)");
  }

  async function checkSignature(slug, head, key) {
    var raw = key && key.algorithm === "ed25519" ? fromBase64(key.public_key) : null;
    if (raw === null || raw.length !== 32) {
      return failed("failed: the hub's public key is not an Ed25519 key");
    }
    var keyId = toHex((await sha256(raw)).slice(0, 8));
    if (key.key_id !== keyId) {
      return failed("failed: the public key does not match its key id " + key.key_id);
    }
    if (head.key_id !== keyId) {
      return failed("failed: the head names key " + head.key_id + ", the hub's key is " + keyId);
    }
    var signature = typeof head.signature === "string" ? fromBase64(head.signature) : null;
    if (signature === null || signature.length !== 64) {
      return failed("failed: the head's signature is malformed");
    }
    var cryptoKey;
    try {
      cryptoKey = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      return skipped("signature not checked: this browser has no Ed25519");
    }
    var payload = utf8(canonical({
      tenant: slug,
      tree_size: head.tree_size,
      root_hash: head.root_hash,
      timestamp: head.timestamp,
    }));
    var good = await crypto.subtle.verify({ name: "Ed25519" }, cryptoKey, signature, payload);
    return good ? ok("ok (key " + keyId + ", signed " + head.timestamp + ")")
      : failed("failed: the signature does not verify with the hub's key " + keyId);
  }

  async function checkAll(slug, seq, entry, proof, head, key) {
    var leaf = await checkLeaf(seq, entry, proof);
    return {
      leaf: leaf.result,
      root: await checkRoot(seq, leaf.leaf, proof, head),
      signature: await checkSignature(slug, head, key),
    };
  }

  function verdict(results) {
    var names = { leaf: "leaf hash", root: "root", signature: "signature" };
    var bad = Object.keys(names).filter(function (k) { return results[k].state === "failed"; });
    if (bad.length) {
      return { state: "failed", text: "failed: " + bad.map(function (k) { return names[k]; }).join(", ") };
    }
    if (results.signature.state === "skipped") {
      return { state: "skipped", text: "leaf and root verified; signature not checked (this browser has no Ed25519)" };
    }
    return { state: "ok", text: "verified" };
  }

  // --- showing it ---
  function show(element, result) {
    element.textContent = result.text;
    element.dataset.state = result.state;
    element.classList.toggle("state", result.state === "failed");
    element.classList.toggle("state--fault", result.state === "failed");
  }

  function showChecks(row, results) {
    ["leaf", "root", "signature"].forEach(function (name) {
      show(row.querySelector('[data-check="' + name + '"] [data-outcome]'), results[name]);
    });
  }

  function field(row, name, value) {
    row.querySelector('[data-field="' + name + '"]').textContent = value === null || value === undefined ? "—" : String(value);
  }

  async function showAnchor(row, url, seq, entry, key) {
    var status = row.querySelector("[data-anchor-status]");
    var fields = row.querySelector("[data-anchor-fields]");
    var link = row.querySelector("[data-receipt-link]");
    status.textContent = "Looking for the anchor…";
    delete status.dataset.state;
    fields.hidden = true;
    link.hidden = true;
    var receipt;
    try {
      receipt = await getJson(url);
    } catch (err) {
      status.textContent = err.status === 409 ? "Not anchored yet: " + err.message
        : "The anchor could not be read: " + err.message;
      status.dataset.state = "skipped";
      return;
    }
    var anchor = receipt.anchor || {};
    var proof = receipt.proof || {};
    field(row, "root", proof.root_hash);
    field(row, "tree_size", proof.tree_size);
    field(row, "chain_id", anchor.chain_id);
    field(row, "contract", anchor.contract);
    field(row, "tx_hash", anchor.tx_hash);
    field(row, "block_number", anchor.block_number);
    field(row, "log_index", anchor.log_index);
    fields.hidden = false;
    link.hidden = false;
    // The receipt's own proof and head, checked here as the offline verifier checks them.
    var same = receipt.entry && receipt.entry.leaf_hash === entry.leaf_hash && receipt.tenant === tenant;
    var results = same ? await checkAll(receipt.tenant, seq, receipt.entry, proof, receipt.head || {}, key) : null;
    var verdictOf = results ? verdict(results) : failed("failed");
    var where = "Anchored on chain " + anchor.chain_id + " in block " + anchor.block_number + ". ";
    if (!same) {
      show(status, failed(where + "The receipt is for another entry."));
    } else if (verdictOf.state === "failed") {
      show(status, failed(where + "The receipt does not check out: " + verdictOf.text + "."));
    } else {
      show(status, { state: "ok", text: where + "The receipt's proof and signed head check out in this browser (" + verdictOf.text + ")." });
    }
  }

  async function verify(button) {
    var seq = Number(button.dataset.seq);
    var row = document.getElementById(button.getAttribute("aria-controls"));
    var summary = row.querySelector("[data-summary]");
    row.hidden = false;
    button.setAttribute("aria-expanded", "true");
    button.disabled = true;
    row.querySelectorAll("[data-outcome]").forEach(function (el) {
      show(el, { state: "pending", text: "checking…" });
    });
    show(summary, { state: "pending", text: "Checking entry " + seq + "…" });
    try {
      if (!window.isSecureContext || !window.crypto || !window.crypto.subtle) {
        var none = skipped("not checked: this page is not in a secure context (https), so the browser offers no WebCrypto");
        showChecks(row, { leaf: none, root: none, signature: none });
        show(summary, none);
        return;
      }
      var head = await getJson(headUrl);
      var entry = await getJson(button.dataset.entryUrl);
      var proof = await getJson(button.dataset.proofUrl + "?tree_size=" + encodeURIComponent(head.tree_size));
      var key = await publicKey();
      var results = await checkAll(tenant, seq, entry, proof, head, key);
      showChecks(row, results);
      var result = verdict(results);
      show(summary, {
        state: result.state,
        text: "Entry " + seq + ": " + result.text + " against the signed head of " + head.tree_size + " entries.",
      });
      await showAnchor(row, button.dataset.receiptUrl, seq, entry, key);
    } catch (err) {
      var message = err && err.message ? err.message : String(err);
      var notChecked = skipped("not checked");
      showChecks(row, { leaf: notChecked, root: notChecked, signature: notChecked });
      show(summary, failed("Entry " + seq + " could not be checked: " + message));
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-audit-verify]") : null;
    if (button) {
      verify(button);
    }
  });
})();
