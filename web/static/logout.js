// signoff logout page: follows the saga over server-sent events, drives the
// front-channel iframes, reports their acknowledgements and confirms the
// local session (POST …/confirm). Without JavaScript the page refreshes
// itself and shows what the server knows, and a button confirms the local
// session.
(function () {
  "use strict";
  var main = document.querySelector("main[data-logout]");
  if (!main) { return; }
  var base = main.getAttribute("data-base");
  var id = main.getAttribute("data-logout");
  var timeout = parseInt(main.getAttribute("data-frame-timeout"), 10) || 5000;
  var labels = JSON.parse(document.getElementById("labels").textContent);

  function ack(rp, token, status, detail) {
    return fetch(base + "/logout/" + encodeURIComponent(id) + "/ack", {
      method: "POST", credentials: "same-origin", keepalive: true,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ rp_id: rp, token: token, status: status, detail: detail || "" })
    }).catch(function () {});
  }

  // The local session: confirming it is an explicit step (a POST from this
  // browser, which no longer sends the session cookie), never a side
  // effect of reading the page. keepalive: a hop may leave the page at once.
  if (main.getAttribute("data-confirm") === "1") {
    fetch(base + "/logout/" + encodeURIComponent(id) + "/confirm", {
      method: "POST", credentials: "same-origin", keepalive: true
    }).catch(function () {});
  }

  // Front-channel iframes: a participant counts only on an acknowledgement
  // posted by the RP's page from the RP's own origin and its own frame.
  var frames = Array.prototype.slice.call(document.querySelectorAll("iframe[data-rp]"));
  var unsettled = frames.length;
  var onAllSettled = null;
  frames.forEach(function (f) {
    var settled = false, loaded = false;
    f.addEventListener("load", function () { loaded = true; });
    f.signoffSettle = function (status, detail) {
      if (settled) { return; }
      settled = true;
      ack(f.getAttribute("data-rp"), f.getAttribute("data-token"), status, detail);
      unsettled--;
      if (unsettled === 0 && onAllSettled) { setTimeout(onAllSettled, 300); }
    };
    setTimeout(function () { f.signoffSettle(loaded ? "timeout" : "not_loaded"); }, timeout);
  });
  window.addEventListener("message", function (ev) {
    var d = ev.data;
    if (!d || typeof d !== "object" || d.type !== "signoff:frontchannel-logout") { return; }
    for (var i = 0; i < frames.length; i++) {
      var f = frames[i];
      if (ev.source === f.contentWindow && ev.origin === f.getAttribute("data-origin")) {
        f.signoffSettle(d.ok === true ? "ok" : "error", typeof d.error === "string" ? d.error : "");
        return;
      }
    }
  });
  // Start loading the frames only now that the listener is in place.
  frames.forEach(function (f) { f.src = f.getAttribute("data-src"); });

  // A redirect-chain hop (SAML over the browser) takes the whole page to
  // the app, which sends it back here: go once the iframes have settled,
  // since leaving the page ends them.
  var hop = document.getElementById("hop");
  if (hop) {
    var went = false;
    var go = function () {
      if (went) { return; }
      went = true;
      window.location.assign(hop.getAttribute("data-href"));
    };
    if (unsettled === 0) { go(); } else { onAllSettled = go; setTimeout(go, timeout + 1000); }
  }

  function render(v) {
    (v.participants || []).forEach(function (p) {
      var li = document.getElementById("p-" + p.rp_id);
      if (!li) { return; }
      var st = li.querySelector(".state");
      st.className = "state " + p.outcome;
      st.textContent = labels[p.outcome] || p.outcome;
      var dt = li.querySelector(".detail");
      dt.textContent = p.outcome === "succeeded" || p.outcome === "pending" ? "" : (p.reason || "");
    });
    if (v.status !== "running") {
      document.getElementById("progress").classList.add("hidden");
      var done = document.getElementById("done");
      done.querySelector(".summary").textContent = v.summary;
      done.querySelector(".advice").classList.toggle("hidden", v.outcome === "complete");
      done.classList.remove("hidden");
      var h = document.getElementById("title");
      h.textContent = v.title;
      h.focus();
    }
  }

  // A page served before the coordinator took the logout lists nobody:
  // reload it once the participants are known (rows, iframes, Continue).
  var listed = document.querySelectorAll("ul.apps li").length > 0;

  if (main.getAttribute("data-status") === "running" && window.EventSource) {
    var es = new EventSource(base + "/logout/" + encodeURIComponent(id) + "/events");
    es.addEventListener("state", function (e) {
      var v = JSON.parse(e.data);
      if (!listed && v.participants && v.participants.length > 0) {
        es.close();
        window.location.reload();
        return;
      }
      render(v);
      if (v.status !== "running") { es.close(); }
    });
  }
})();
