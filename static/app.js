// lnurld pages: copy and print buttons, the live state of a withdraw
// link, and whether an amount form's invoice is paid. Served as a file so the Content-Security-Policy can forbid inline
// script. Everything here is optional: the pages work without it.
(function () {
  "use strict";

  function copyText(target, onDone) {
    var text = target.textContent.trim();
    function fallback() {
      var range = document.createRange();
      range.selectNodeContents(target);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      try {
        return document.execCommand("copy");
      } catch (e) {
        return false;
      }
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { onDone(true); },
        function () { onDone(fallback()); }
      );
    } else {
      onDone(fallback());
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (btn) {
    var target = document.getElementById(btn.getAttribute("data-copy"));
    if (!target) {
      return;
    }
    var label = btn.textContent;
    btn.hidden = false;
    btn.addEventListener("click", function () {
      copyText(target, function (ok) {
        btn.textContent = ok ? "Copied" : "Selected: copy it now";
        setTimeout(function () { btn.textContent = label; }, 2500);
      });
    });
  });

  Array.prototype.forEach.call(document.querySelectorAll("button[data-print]"), function (btn) {
    btn.hidden = false;
    btn.addEventListener("click", function () { window.print(); });
  });

  // A finished link or invoice has nothing left to scan, open or copy.
  function dropScan() {
    var scan = document.getElementById("scan");
    if (scan && scan.parentNode) {
      scan.parentNode.removeChild(scan);
    }
  }

  // An invoice page: poll LUD-21 verify while the invoice is open; say
  // "Paid" once it settles, "Expired" once its time is up.
  var invoice = document.querySelector("[data-verify-url]");
  if (invoice && window.fetch) {
    watchInvoice(invoice);
  }

  function watchInvoice(box) {
    var url = box.getAttribute("data-verify-url");
    var expiresAt = parseInt(box.getAttribute("data-expires-at"), 10) || 0;
    var stateEl = document.getElementById("state");
    var detailEl = document.getElementById("state-detail");
    var back = document.getElementById("back");
    var failures = 0;

    function show(state, label, detail) {
      box.setAttribute("data-state", state);
      stateEl.textContent = label;
      detailEl.textContent = detail;
      dropScan();
      if (back) {
        back.textContent = "Make a new invoice";
      }
    }

    function next() {
      var delay = failures > 0 ? Math.min(2000 * Math.pow(2, failures), 30000) : 2000;
      setTimeout(poll, delay);
    }

    function poll() {
      if (expiresAt && Date.now() / 1000 >= expiresAt + 5) {
        show("expired", "Expired", "This invoice expired unpaid. Make a new one to pay.");
        return;
      }
      if (document.hidden) {
        next();
        return;
      }
      fetch(url, { cache: "no-store", credentials: "omit", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (!r.ok) {
            throw new Error("status " + r.status);
          }
          return r.json();
        })
        .then(function (v) {
          if (v.status === "ERROR") {
            throw new Error(v.reason);
          }
          failures = 0;
          if (v.settled === true) {
            show("paid", "Paid", "The payment arrived. Thank you!");
          } else {
            next();
          }
        })
        .catch(function () {
          failures += 1;
          next();
        });
    }

    next();
  }

  // Live state: poll the status route until the state can no longer change.
  var box = document.querySelector("[data-status-url]");
  if (!box || !window.fetch) {
    return;
  }
  var url = box.getAttribute("data-status-url");
  var stateEl = document.getElementById("state");
  var detailEl = document.getElementById("state-detail");
  var failures = 0;

  function schedule(state) {
    var delay = state === "paying" ? 1000 : 2000;
    if (failures > 0) {
      delay = Math.min(2000 * Math.pow(2, failures), 30000);
    }
    setTimeout(poll, delay);
  }

  function apply(s) {
    box.setAttribute("data-state", s.state);
    if (stateEl && stateEl.textContent !== s.label) {
      stateEl.textContent = s.label;
    }
    if (detailEl && detailEl.textContent !== s.detail) {
      detailEl.textContent = s.detail;
    }
  }

  function poll() {
    if (document.hidden) {
      schedule(box.getAttribute("data-state"));
      return;
    }
    fetch(url, { cache: "no-store", credentials: "omit", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) {
          throw new Error("status " + r.status);
        }
        return r.json();
      })
      .then(function (s) {
        failures = 0;
        apply(s);
        // The server says when the state can no longer change.
        if (s.final !== true) {
          schedule(s.state);
        } else {
          dropScan();
        }
      })
      .catch(function () {
        failures += 1;
        schedule(box.getAttribute("data-state"));
      });
  }

  schedule(box.getAttribute("data-state"));
})();
