// Live updates on top of htmx's ws extension (the socket is #live-socket in _base.html).
// The server sends HTML fragments that htmx swaps out of band; this file
//  - tells the server what the page shows ([data-live-watch]) on every (re)connect,
//  - re-syncs the page's live regions on every (re)connect, so nothing missed while the
//    socket was down stays missing, and no row is shown twice,
//  - highlights new rows, mirrors arrivals to browser notifications when turned on,
//  - turns a task page's forms off when someone else acted on the task,
//  - says "Reconnecting…" (#live-status, a role=status region) while the socket is down.
(function () {
  "use strict";

  var NOTIFY_KEY = "taskinbox.notifications";
  var FLASH_MS = 4000;
  // A socket down this long is said to be down; shorter blips pass unremarked.
  var RECONNECTING_AFTER_MS = 1000;

  function watchMessages() {
    return Array.from(document.querySelectorAll("[data-live-watch]")).map(function (el) {
      var kind = el.dataset.liveWatch;
      if (kind === "list") {
        return { watch: "list", mode: el.dataset.liveMode, query: window.location.search };
      }
      if (kind === "instances") return { watch: "instances" };
      if (kind === "unrouted") return { watch: "unrouted", query: window.location.search };
      var message = {
        watch: kind, id: el.dataset.liveId, state: el.dataset.liveState || "",
        query: window.location.search,
      };
      // A task page also says which state of its workflow it shows (paused, ended, ...).
      var workflow = document.getElementById("workflow-state");
      if (kind === "task" && workflow) message.workflow = workflow.dataset.state || "";
      return message;
    });
  }

  // Re-fetch a region from the server: the current URL answers htmx with the region's partial.
  // A live message that lands while a re-sync is in flight may be older or newer than the
  // answer that is about to replace the region: fetch once more after it, so the page ends
  // as a fresh load would show it.
  var inFlight = 0;
  var dirty = false;
  // Sent from <body>, so app.js knows them from what a person asked for (it says nothing of
  // them, and leaves their failures to the "Reconnecting…" chip).
  function resync() {
    dirty = false;
    var requests = [];
    var table = document.getElementById("task-table");
    if (table) {
      requests.push(htmx.ajax("GET", window.location.href, { source: document.body, target: "#task-table", swap: "outerHTML" }));
    }
    // Other regions say how their partial goes in: data-live-resync="innerHTML" or "outerHTML".
    document.querySelectorAll("[data-live-resync]").forEach(function (el) {
      if (!el.id) return;
      requests.push(htmx.ajax("GET", window.location.href, {
        source: document.body, target: "#" + el.id, swap: el.dataset.liveResync || "outerHTML",
      }));
    });
    inFlight += requests.length;
    return Promise.all(requests.map(function (request) {
      return Promise.resolve(request).catch(function () {}).then(function () {
        inFlight -= 1;
        if (inFlight === 0 && dirty) resyncSoon();
      });
    }));
  }

  // "Reconnecting…": shown once the socket has been closed for a second, cleared when it is
  // open again and the page has re-synced (not at open: until then the page may be stale).
  var reconnectingTimer = null;
  function socketState() { return document.documentElement.dataset.liveSocket; }
  function setStatus(text) {
    var status = document.getElementById("live-status");
    if (status && status.textContent !== text) status.textContent = text;
  }
  function reconnectingSoon() {
    if (reconnectingTimer) return;
    reconnectingTimer = setTimeout(function () {
      reconnectingTimer = null;
      if (socketState() === "closed") setStatus("Reconnecting… Live updates resume when the connection is back.");
    }, RECONNECTING_AFTER_MS);
  }
  function reconnected() {
    if (reconnectingTimer) { clearTimeout(reconnectingTimer); reconnectingTimer = null; }
    setStatus("");
  }

  var resyncPending = null;
  function resyncSoon() {
    if (resyncPending) return;
    resyncPending = setTimeout(function () { resyncPending = null; resync(); }, 300);
  }

  // The server closes the socket with this code when its session ended (sign-out here or
  // in another tab, a password change, expiry): live/sessions.py. htmx does not reconnect
  // on it; the socket element goes too, so nothing reconnects later.
  var SESSION_ENDED = 4401;

  function showSignedOut(socketElt) {
    document.documentElement.dataset.liveSocket = "signed-out";
    reconnected();  // not coming back: the signed-out notice says so instead
    var login = (socketElt && socketElt.dataset.loginUrl) || "/accounts/login/";
    if (socketElt && socketElt.parentNode) socketElt.parentNode.removeChild(socketElt);
    if (document.getElementById("signed-out")) return;
    var notice = document.createElement("div");
    notice.id = "signed-out";
    notice.className = "banner warning signed-out";
    notice.setAttribute("role", "alert");
    notice.appendChild(document.createTextNode("You have been signed out. "));
    var link = document.createElement("a");
    link.href = login + "?next=" + encodeURIComponent(window.location.pathname + window.location.search);
    link.textContent = "Sign in";
    notice.appendChild(link);
    var main = document.getElementById("main") || document.body;
    main.insertBefore(notice, main.firstChild);
  }

  // The socket's state, for styles and tests: <html data-live-socket="open|closed|signed-out">.
  document.addEventListener("htmx:wsClose", function (event) {
    var closed = event.detail && event.detail.event;
    if (closed && closed.code === SESSION_ENDED) {
      showSignedOut(event.target);
      return;
    }
    document.documentElement.dataset.liveSocket = "closed";
    reconnectingSoon();
  });

  // Re-sync once the server has joined this socket's groups: its first message (the counts)
  // comes after that, so whatever happens from then on reaches the socket, and the fetch
  // sees everything before. Fetching at open would miss what lands in between.
  var awaitingFirstMessage = false;
  document.addEventListener("htmx:wsOpen", function (event) {
    document.documentElement.dataset.liveSocket = "open";
    var socket = event.detail.socketWrapper;
    watchMessages().forEach(function (m) { socket.send(JSON.stringify(m)); });
    awaitingFirstMessage = true;
  });

  // A row htmx could not place (its table was empty, or replaced meanwhile): fetch the
  // region, and highlight the new rows once they are in.
  var flashAfterResync = new Set();
  document.body.addEventListener("htmx:oobErrorNoTarget", function (event) {
    var content = event.detail && event.detail.content;
    if (!content || !content.hasAttribute || !content.hasAttribute("data-live-miss")) return;
    content.querySelectorAll("tr[data-live-new]").forEach(function (row) {
      flashAfterResync.add(row.id);
    });
    resyncSoon();
  });

  document.body.addEventListener("htmx:afterSettle", function () {
    flashAfterResync.forEach(function (id) {
      var row = document.getElementById(id);
      if (!row) return;
      flashAfterResync.delete(id);
      row.classList.add("flash");
      setTimeout(function () { row.classList.remove("flash"); }, FLASH_MS);
    });
  });

  // No duplicate rows: an arriving row that is already on the page replaces it instead.
  document.body.addEventListener("htmx:oobBeforeSwap", function (event) {
    var fragment = event.detail.fragment;
    if (!fragment || !fragment.querySelectorAll) return;
    fragment.querySelectorAll("tr[id]").forEach(function (row) {
      var existing = document.getElementById(row.id);
      if (existing && existing !== event.detail.target) {
        existing.replaceWith(row);
      }
    });
  });

  document.addEventListener("htmx:wsAfterMessage", function () {
    if (awaitingFirstMessage) {
      awaitingFirstMessage = false;
      resync().then(function () {
        if (socketState() === "open") reconnected();
      });
    } else if (inFlight > 0) {
      dirty = true;
    }
    document.querySelectorAll("tr[data-live-new]").forEach(function (row) {
      row.removeAttribute("data-live-new");
      setTimeout(function () { row.classList.remove("flash"); }, FLASH_MS);
    });
    var banner = document.querySelector("#task-banner[data-live-stale]");
    if (banner) {
      document.querySelectorAll(".task-page form").forEach(function (form) {
        Array.from(form.elements).forEach(function (el) { el.disabled = true; });
        form.setAttribute("aria-disabled", "true");
      });
    } else {
      holdCompletion();
    }
    document.querySelectorAll("#live-announcer [data-notify]").forEach(function (el) {
      var tag = el.getAttribute("data-notify");
      el.removeAttribute("data-notify");
      notify(el.textContent, tag);
    });
  });

  // The task's workflow paused (or ended): its complete form is held, what the person typed
  // stays; resumed: the form is free again. The server refuses a completion meanwhile anyway.
  function holdCompletion() {
    var state = document.getElementById("workflow-state");
    var form = document.querySelector("#complete-form form");
    if (!state || !form) return;
    var hold = state.hasAttribute("data-hold-complete");
    Array.from(form.elements).forEach(function (el) {
      if (el.type === "hidden") return;
      el.disabled = hold;
      if (hold) el.setAttribute("aria-disabled", "true");
      else el.removeAttribute("aria-disabled");
    });
    if (hold) form.setAttribute("aria-disabled", "true");
    else form.removeAttribute("aria-disabled");
  }

  // Browser notifications: off until the person turns them on with the button.
  function notificationsOn() {
    return "Notification" in window && Notification.permission === "granted" &&
      localStorage.getItem(NOTIFY_KEY) === "on";
  }

  function notify(text, tag) {
    if (!notificationsOn() || !document.hidden) return;
    try { new Notification(text, { tag: tag }); } catch (e) { /* not allowed here */ }
  }

  function paintToggle(button) {
    var on = notificationsOn();
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? "Turn off notifications" : "Turn on notifications";
  }

  document.querySelectorAll("[data-live-notify-toggle]").forEach(function (button) {
    if (!("Notification" in window)) return;
    button.hidden = false;
    paintToggle(button);
    button.addEventListener("click", function () {
      if (notificationsOn()) {
        localStorage.setItem(NOTIFY_KEY, "off");
        paintToggle(button);
        return;
      }
      Notification.requestPermission().then(function (permission) {
        localStorage.setItem(NOTIFY_KEY, permission === "granted" ? "on" : "off");
        paintToggle(button);
      });
    });
  });
})();
