// The collaboration page: check its receipt in this browser with the audit page's own
// checks (static/audit.js shares them as window.hubAudit). For every organisation's every
// entry of the bundle: the leaf hash (SHA-256 of the entry), the audit path to the root of
// its signed tree head, the head's Ed25519 signature with the log's key; and that the
// entry is about this collaboration and has a chain anchor. Without those checks (an
// older audit.js) the button stays hidden and the download is all there is.
(function () {
  "use strict";

  var box = document.getElementById("collab-receipt");
  var shared = window.hubAudit;
  if (!box || !shared || typeof shared.checkAll !== "function") {
    return;
  }
  var button = box.querySelector("[data-collab-verify]");
  var out = box.querySelector("[data-verify-result]");
  if (!button || !out) {
    return;
  }
  button.hidden = false;

  function say(state, summary, lines) {
    out.textContent = "";
    out.dataset.state = state;
    var head = document.createElement("p");
    head.textContent = summary;
    head.setAttribute("data-verify-summary", "");
    out.appendChild(head);
    if (lines && lines.length) {
      var list = document.createElement("ul");
      lines.forEach(function (line) {
        var item = document.createElement("li");
        item.textContent = line;
        list.appendChild(item);
      });
      out.appendChild(list);
    }
  }

  async function receipt(url) {
    var response;
    try {
      response = await fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        redirect: "error", // the sign-in page is not an answer
      });
    } catch (e) {
      throw new Error("the hub could not be reached, or the session ended (reload the page)");
    }
    var type = response.headers.get("content-type") || "";
    var body = type.indexOf("json") >= 0 ? await response.json() : null;
    if (!response.ok) {
      throw new Error(body && typeof body.detail === "string" ? body.detail : "HTTP " + response.status);
    }
    if (!body || body.kind !== "collaboration-receipt" || !Array.isArray(body.organisations)) {
      throw new Error("the hub did not answer with a collaboration receipt");
    }
    return body;
  }

  async function checkOne(collabId, part, r) {
    var entry = r.entry || {};
    var problems = [];
    if (entry.resource_type !== "collaboration" || entry.resource_id !== collabId) {
      problems.push("entry " + entry.seq + " is not about this collaboration");
    }
    var key = r.public_key || {};
    if (part.audit_public_key && key.key_id !== part.audit_public_key.key_id) {
      problems.push("entry " + entry.seq + " is signed with another key than its organisation's log");
    }
    var results = await shared.checkAll(r.tenant, entry.seq, entry, r.proof || {}, r.head || {}, key);
    var verdict = shared.verdict(results);
    if (verdict.state === "failed") {
      problems.push("entry " + entry.seq + ": " + verdict.text);
    }
    if (!r.anchor || !r.anchor.tx_hash) {
      problems.push("entry " + entry.seq + " has no chain anchor");
    }
    return { problems: problems, unsigned: verdict.state === "skipped", anchor: r.anchor || null };
  }

  async function checkPart(collabId, part) {
    var receipts = Array.isArray(part.receipts) ? part.receipts : [];
    var problems = [];
    var unsigned = false;
    var chains = {};
    for (var i = 0; i < receipts.length; i++) {
      var one = await checkOne(collabId, part, receipts[i]);
      problems = problems.concat(one.problems);
      unsigned = unsigned || one.unsigned;
      if (one.anchor) {
        chains["chain " + one.anchor.chain_id + ", block " + one.anchor.block_number] = true;
      }
    }
    var name = (part.name || "organisation") + " (" + receipts.length + " entries)";
    if (!receipts.length) {
      problems.push("no entries");
    }
    var anchored = Object.keys(chains).join("; ");
    var line = problems.length ? name + ": failed: " + problems.join("; ")
      : name + ": verified" + (unsigned ? " (signatures not checked: this browser has no Ed25519)" : "")
        + (anchored ? "; anchored on " + anchored : "");
    return { line: line, failed: problems.length > 0, unsigned: unsigned, count: receipts.length };
  }

  async function verify() {
    button.disabled = true;
    say("pending", "Checking the receipt…");
    try {
      if (!window.isSecureContext || !window.crypto || !window.crypto.subtle) {
        say("skipped", "Not checked: this page is not in a secure context (https), so the browser offers no WebCrypto.");
        return;
      }
      var bundle = await receipt(box.dataset.receiptUrl);
      var collabId = bundle.collaboration && bundle.collaboration.id;
      var lines = [];
      var failed = false;
      var unsigned = false;
      var total = 0;
      for (var i = 0; i < bundle.organisations.length; i++) {
        var part = await checkPart(collabId, bundle.organisations[i]);
        lines.push(part.line);
        failed = failed || part.failed;
        unsigned = unsigned || part.unsigned;
        total += part.count;
      }
      var orgs = bundle.organisations.length;
      if (failed) {
        say("failed", "The receipt does not check out.", lines);
      } else {
        say(unsigned ? "skipped" : "ok", "Receipt verified: " + total + " entries of " + orgs
          + " organisations, each in its signed log" + (unsigned ? " (signatures not checked)" : "") + ".", lines);
      }
    } catch (err) {
      say("failed", "The receipt could not be checked: " + (err && err.message ? err.message : String(err)));
    } finally {
      button.disabled = false;
    }
  }

  button.addEventListener("click", verify);
})();
