/* The driver's page: every scan becomes an event with its device time and an idempotency key fixed at
 * scan time, kept in this browser's localStorage until the server has answered it. Sending the same
 * queue twice (a lost answer, a reload, two tabs) records nothing twice: the keys make repeats duplicates. */
(function () {
  "use strict";
  var root = document.getElementById("driver");
  var S = JSON.parse(document.getElementById("driver-strings").textContent);
  var csrf = root.dataset.csrf;
  var QUEUE = "cylinder-ledger.queue.v1." + root.dataset.party;
  var CHOICES = "cylinder-ledger.choices.v1." + root.dataset.party;
  var BATCH = 500;
  var form = document.getElementById("scan-form");
  var list = document.getElementById("queue");
  var net = document.getElementById("net");
  var message = document.getElementById("scan-message");
  var syncing = false;
  var photoDigests = [];  // the safety check's photos uploaded for the next delivery
  var photoInput = document.getElementById("safety-photos");
  var photoStatus = document.getElementById("safety-photo-status");

  function load() {
    try { return JSON.parse(localStorage.getItem(QUEUE)) || []; } catch (e) { return []; }
  }
  function save(queue) { localStorage.setItem(QUEUE, JSON.stringify(queue)); }
  function update(key, change) {
    var queue = load();
    queue.forEach(function (item) { if (item.event.idempotency_key === key) change(item); });
    save(queue);
    render();
    showNetwork();
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return "drv-" + crypto.randomUUID();
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return "drv-" + Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function say(text, bad) {
    message.textContent = text;
    message.className = "status-line " + (bad ? "bad" : "good");
  }

  function chosenKind() { return form.querySelector("input[name=kind]:checked").value; }

  function showFields() {
    var kind = chosenKind();
    form.querySelectorAll("[data-for]").forEach(function (el) {
      el.hidden = el.dataset.for.split(" ").indexOf(kind) < 0;
    });
  }

  /* Remember the trip (action, receiver, vehicle, crew) between scans and visits. */
  var REMEMBERED = ["to", "vehicle", "driver", "escort", "worker"];
  function keepChoices() {
    var kept = { kind: chosenKind() };
    REMEMBERED.forEach(function (name) { kept[name] = form.elements[name].value; });
    localStorage.setItem(CHOICES, JSON.stringify(kept));
  }
  function restoreChoices() {
    var kept;
    try { kept = JSON.parse(localStorage.getItem(CHOICES)) || {}; } catch (e) { kept = {}; }
    var radio = form.querySelector("input[name=kind][value='" + kept.kind + "']");
    if (radio) radio.checked = true;
    REMEMBERED.forEach(function (name) { if (kept[name]) form.elements[name].value = kept[name]; });
  }

  function value(name) { return form.elements[name].value.trim(); }

  function buildEvent(code) {
    var kind = chosenKind();
    var event = { cylinder: code, kind: kind, occurred_at: new Date().toISOString(), idempotency_key: newKey() };
    var data = {};
    if (kind === "dispatch" || kind === "return") {
      if (!value("to")) return { error: "needs_to" };
      event.to = value("to");
      if (value("vehicle")) data.vehicle = value("vehicle");
      if (value("driver")) data.driver = value("driver");
      if (value("escort")) data.escort = value("escort");
    }
    var check = null;
    if (kind === "deliver") {
      if (!value("user")) return { error: "needs_to" };
      event.to = value("user");
      if (value("net_kg")) data.net_kg = parseFloat(value("net_kg"));
      check = safetyCheck();
      if (check.answered) {
        data.safety_check = { items: check.items };
        if (photoDigests.length) data.safety_check.photos = photoDigests.slice(0, 3);
      }
    }
    if ((kind === "deliver" || kind === "collect") && value("worker")) event.person = value("worker");
    if (Object.keys(data).length) event.data = data;
    return { event: event, check: check };
  }

  /* The home safety check (入户安检) as answered: only the items given a result are recorded. */
  function safetyCheck() {
    var found = { items: {}, answered: 0, failed: 0, hazards: [] };
    form.querySelectorAll("#safety .safety-item").forEach(function (row) {
      var chosen = row.querySelector("input:checked");
      if (!chosen) return;
      found.items[row.dataset.code] = chosen.value;
      found.answered += 1;
      if (chosen.value === "fail") {
        found.failed += 1;
        if (row.dataset.critical) found.hazards.push(row.dataset.name);
      }
    });
    return found;
  }

  function clearSafety() {
    form.querySelectorAll("#safety input[type=radio]").forEach(function (input) { input.checked = false; });
    photoDigests = [];
    if (photoInput) photoInput.value = "";
    if (photoStatus) photoStatus.textContent = "";
  }

  /* Photos go up at once (they are too big for the offline queue); the event names them by digest. */
  async function uploadPhotos() {
    var files = Array.prototype.slice.call(photoInput.files || [], 0, 3);
    if (!files.length) return;
    if (!navigator.onLine) { photoStatus.textContent = S["driver.photo_offline"]; return; }
    for (var i = 0; i < files.length && photoDigests.length < 3; i++) {
      var body = new FormData();
      body.append("photo", files[i]);
      try {
        var answer = await fetch("/driver/photo", { method: "POST", credentials: "same-origin", body: body,
                                                    headers: { "X-CSRF-Token": csrf } });
        var json = await answer.json();
        if (!answer.ok) { photoStatus.textContent = S["driver.photo_refused"] + (json.detail || json.title); return; }
        if (photoDigests.indexOf(json.sha256) < 0) photoDigests.push(json.sha256);
      } catch (e) {
        photoStatus.textContent = S["driver.photo_offline"];
        return;
      }
    }
    photoStatus.textContent = S["driver.photo_kept"].replace("{n}", photoDigests.length);
  }

  async function accept(text) {
    var scan = window.TraceCode.fromScan(text);
    if (scan.error) { say(S["driver.scan_error." + scan.error], true); return false; }
    var built = buildEvent(scan.code);
    if (built.error) { say(S["driver." + built.error], true); return false; }
    var item = { event: built.event, printed: window.TraceCode.printed(scan.code), scan: text.trim(),
                 status: "queued", detail: "", cautions: [], findings: [], checked: false };
    var answered = built.check;
    if (answered && answered.hazards.length) {  // a critical hazard: no gas is left there unless the worker says so
      item.status = "held";
      item.detail = S["driver.hazard"].replace("{items}", answered.hazards.join("、"));
    }
    var queue = load();
    queue.unshift(item);
    save(queue);
    if (answered) clearSafety();
    render();
    showNetwork();
    var said = item.printed + " · " + S["kind." + item.event.kind] + " · " + S["driver.queued"];
    if (answered && answered.failed) said += " · " + S["driver.safety_failed"].replace("{n}", answered.failed);
    say(said, !!(answered && answered.failed));
    if (navigator.onLine) {
      await check(item);
      sync();
    }
    return true;
  }

  /* Online, the server tells at once whether the label is forged and whether the cylinder must not go out. */
  async function check(item) {
    var answer;
    try {
      answer = await fetch("/driver/check?scan=" + encodeURIComponent(item.scan), { credentials: "same-origin" });
      if (!answer.ok) return;
      answer = await answer.json();
    } catch (e) {
      return;
    }
    update(item.event.idempotency_key, function (kept) {
      kept.checked = true;
      if (!answer.ok && answer.forged) {  // never sent: a forged label is not a cylinder to take
        kept.status = "rejected";
        kept.detail = S["driver.forged"];
      } else if (answer.ok && !answer.registered) {
        kept.detail = S["driver.unregistered"];
        if (kept.event.kind === "deliver" && kept.status === "queued") kept.status = "held";
      } else if (answer.ok) {
        kept.cautions = answer.cautions;
        // a delivery of a cylinder that must not go out waits for the driver: remove it, or record it anyway
        if (answer.cautions.length && kept.event.kind === "deliver" && kept.status === "queued") kept.status = "held";
      }
    });
  }

  async function sync() {
    if (syncing) return;
    var batch = load().filter(function (item) { return item.status === "queued"; }).slice(0, BATCH);
    if (!batch.length) { showNetwork(); return; }
    syncing = true;
    showNetwork();
    var more = false;
    try {
      var answer = await fetch("/driver/sync", {
        method: "POST", credentials: "same-origin", body: JSON.stringify({ events: batch.map(function (i) { return i.event; }) }),
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf } });
      if (!answer.ok) throw new Error("the server answered " + answer.status);
      var results = (await answer.json()).results;
      var byKey = {};
      results.forEach(function (result) { byKey[batch[result.index].event.idempotency_key] = result; });
      var queue = load();
      queue.forEach(function (item) {
        var result = byKey[item.event.idempotency_key];
        if (!result) return;
        item.status = result.status === "created" ? "recorded" : result.status;
        item.detail = result.error ? (result.error.detail || result.error.title) : item.detail;
        item.cautions = result.cautions || item.cautions;
        item.findings = result.findings || [];
      });
      save(queue);
      more = batch.length === BATCH;
    } catch (e) {
      // offline, or the server is away: everything stays queued with the same keys, to be sent again
    } finally {
      syncing = false;
      render();
      showNetwork();
    }
    if (more) sync();
  }

  function waiting() { return load().filter(function (item) { return item.status === "queued"; }).length; }

  function showNetwork() {
    var online = navigator.onLine;
    var n = waiting();
    net.textContent = (online ? S["driver.online"] : S["driver.offline"]) + " · " +
      (syncing ? S["driver.sending"] : n ? S["driver.waiting"].replace("{n}", n) : S["driver.all_sent"]);
    net.className = "status-line " + (online ? "online" : "offline");
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function when(iso) {
    var d = new Date(iso);
    return pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function outcome(item) {
    var parts = [S["driver." + item.status] || item.status];
    if (item.detail) parts.push(item.detail);
    (item.findings || []).forEach(function (f) { parts.push(S["driver.finding"] + (S["finding." + f.kind] || f.kind)); });
    if (item.status === "queued" && !item.checked) parts.push(S["driver.unchecked"]);
    return parts.join(" · ");
  }

  function caution(item) {
    if (!item.cautions || !item.cautions.length) return "";
    return "⚠ " + S["caution.stop"] + item.cautions.map(function (c) { return S["caution." + c] || c; }).join("、");
  }

  function button(label, action) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "link";
    b.textContent = label;
    b.addEventListener("click", action);
    return b;
  }

  function drop(key) {
    save(load().filter(function (kept) { return kept.event.idempotency_key !== key; }));
    render();
    showNetwork();
  }

  function render() {
    var queue = load();
    list.textContent = "";
    queue.forEach(function (item) {
      var key = item.event.idempotency_key;
      var li = document.createElement("li");
      li.className = item.status + (item.cautions && item.cautions.length ? " stop" : "");
      li.dataset.key = key;
      [["what", item.printed], ["kind", S["kind." + item.event.kind] || item.event.kind],
       ["when", when(item.event.occurred_at)], ["outcome", outcome(item)], ["caution", caution(item)]
      ].forEach(function (cell) {
        if (!cell[1]) return;
        var span = document.createElement("span");
        span.className = cell[0];
        span.textContent = cell[1];
        li.appendChild(span);
      });
      (item.findings || []).forEach(function (f) {
        if (f.kind !== "unsafe_installation" || !f.id) return;
        var a = document.createElement("a");
        a.className = "notice";
        a.href = "/driver/notice/" + f.id + (document.documentElement.lang === "en" ? "?lang=en" : "");
        a.target = "_blank";
        a.textContent = S["driver.notice"];
        li.appendChild(a);
      });
      if (item.status === "rejected" || item.status === "held") {
        li.appendChild(button(S["driver.remove"], function () { drop(key); }));
      }
      if (item.status === "held") {
        li.appendChild(button(S["driver.send_anyway"], function () {
          update(key, function (kept) { kept.status = "queued"; });
          sync();
        }));
      }
      list.appendChild(li);
    });
  }

  form.addEventListener("change", function (e) {
    if (e.target.name === "kind") showFields();
    if (e.target.name.indexOf("safety") === 0) return;  // each delivery's check is its own
    keepChoices();
  });
  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    var typed = form.elements.typed;
    if (await accept(typed.value)) typed.value = "";
    typed.focus();
  });
  if (photoInput) photoInput.addEventListener("change", uploadPhotos);
  document.getElementById("sync-now").addEventListener("click", sync);
  document.getElementById("clear-done").addEventListener("click", function () {
    save(load().filter(function (item) { return item.status !== "recorded" && item.status !== "duplicate"; }));
    render();
  });
  window.addEventListener("online", function () { showNetwork(); sync(); });
  window.addEventListener("offline", showNetwork);
  window.addEventListener("storage", function (e) { if (e.key === QUEUE) { render(); showNetwork(); } });
  setInterval(function () { if (navigator.onLine) sync(); }, 30000);

  if ("serviceWorker" in navigator) {  // so the page opens again in a basement (static/pages/driver-sw.js)
    navigator.serviceWorker.register("/driver/sw.js", { scope: "/driver" }).catch(function () {});
  }
  restoreChoices();
  showFields();
  render();
  showNetwork();
  if (window.Camera) window.Camera.attach(function (text) { accept(text); }, true);
  if (navigator.onLine) sync();
})();
