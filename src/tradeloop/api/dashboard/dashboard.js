/* tradeloop dashboard: plain JavaScript, no build step. It reads the REST API under /api/v1
   with the bearer token typed into the login form (kept in sessionStorage, never in a URL, never
   logged), follows the event stream at /api/v1/ws and draws with the vendored
   lightweight-charts. window.tradeloopDashboard exposes counters for the browser test. */
(function () {
  "use strict";

  var API = "/api/v1";
  var TOKEN_KEY = "tradeloop.token";
  var BAR_LIMIT = 300;
  var EQUITY_POINTS = 20000;
  var TIMEFRAME_S = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600 };
  var UP = "#3fb950";
  var DOWN = "#f85149";

  var probe = {
    ready: false, loggedIn: false, wsOpen: false, received: {},
    equityPoints: 0, candles: 0, markers: 0, symbol: ""
  };
  window.tradeloopDashboard = probe;

  var state = {
    token: null, ws: null, wsOpened: false, wsRetry: 0, wsTimer: null, timers: [],
    symbol: "", timeframe: "1m", symbols: [], fills: [], pending: null,
    equityLast: null, candleKey: "", candleLast: null, candleFirst: null
  };
  var charts = { equity: null, equitySeries: null, candle: null, candleSeries: null, markers: null };

  function $(id) { return document.getElementById(id); }

  function text(id, value) { $(id).textContent = value; }

  // -- formatting ---------------------------------------------------------------------------

  function number(value, digits) {
    var n = Number(value);
    if (value === null || value === undefined || value === "" || !isFinite(n)) {
      return "–";
    }
    return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function signed(value) {
    var n = Number(value);
    return (n > 0 ? "+" : "") + number(value, 2);
  }

  function tone(element, value) {
    var n = Number(value);
    element.classList.toggle("up", n > 0);
    element.classList.toggle("down", n < 0);
  }

  function isoTime(ns) {
    if (!ns) {
      return "";
    }
    return new Date(Number(ns) / 1e6).toISOString().replace("T", " ").slice(0, 19);
  }

  function price(value) {  // marks come from floats: 1.0984099999999999 shows as 1.09841
    var n = Number(value);
    if (value === null || value === undefined || value === "" || !isFinite(n)) {
      return "";
    }
    var shown = String(value);
    var dot = shown.indexOf(".");
    return dot >= 0 && shown.length - dot - 1 > 6 ? n.toFixed(priceDecimals(Math.abs(n))) : shown;
  }

  function plain(value) {
    return value === null || value === undefined ? "" : String(value);
  }

  function detailText(detail) {
    if (Array.isArray(detail)) {
      return detail.map(function (d) { return d && d.msg ? d.msg : String(d); }).join("; ");
    }
    return detail ? String(detail) : "";
  }

  // -- the API ------------------------------------------------------------------------------

  function api(method, path, body, token) {
    var headers = { "Authorization": "Bearer " + (token || state.token), "Accept": "application/json" };
    var init = { method: method, headers: headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(API + path, init).then(function (response) {
      if (response.ok) {
        return response.json();
      }
      return response.json().catch(function () { return {}; }).then(function (payload) {
        var error = new Error(detailText(payload.detail) || response.statusText || "HTTP " + response.status);
        error.status = response.status;
        error.scope = (response.headers.get("WWW-Authenticate") || "").indexOf("insufficient_scope") >= 0;
        error.ownToken = !token;
        throw error;
      });
    });
  }

  function failed(error) {
    if (error.status === 401 && !error.scope && error.ownToken) {
      logout("This tab's token is no longer accepted: sign in again.");
      return;
    }
    notice(error.scope ? "Not allowed: " + error.message : error.message, "error");
  }

  function notice(message, kind) {
    var el = $("notice");
    el.textContent = message;
    el.dataset.kind = kind || "";
  }

  // Each refresher runs one request at a time; a call while one is under way runs it again after.
  var refreshers = {};
  var debounce = {};

  function refresher(name, run) {
    var busy = false;
    var again = false;
    refreshers[name] = function () {
      if (!state.token) {
        return;
      }
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      run().catch(failed).then(function () {
        busy = false;
        if (again) {
          again = false;
          refreshers[name]();
        }
      });
    };
  }

  function schedule(name) {
    clearTimeout(debounce[name]);
    debounce[name] = setTimeout(function () { refreshers[name](); }, 150);
  }

  // -- login --------------------------------------------------------------------------------

  function showLogin(message) {
    $("app").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("login-error").hidden = !message;
    $("login-error").textContent = message || "";
    $("token").value = "";
    $("token").focus();
  }

  function login(token) {
    state.token = token;
    $("login-submit").disabled = true;
    return api("GET", "/status").then(function (status) {
      sessionStorage.setItem(TOKEN_KEY, token);
      $("login").hidden = true;
      $("login-error").hidden = true;
      $("app").hidden = false;
      $("logout").hidden = false;
      probe.loggedIn = true;
      start(status);
    }, function (error) {
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      if (error.status === 401) {
        showLogin("That token was not accepted: it is unknown, expired or revoked.");
      } else if (error.status === 429) {
        showLogin(error.message);
      } else {
        showLogin("The node did not answer: " + error.message);
      }
    }).then(function () {
      $("login-submit").disabled = false;
    });
  }

  function logout(message) {
    state.token = null;
    probe.loggedIn = false;
    sessionStorage.removeItem(TOKEN_KEY);
    state.timers.forEach(clearInterval);
    state.timers = [];
    clearTimeout(state.wsTimer);
    if (state.ws) {
      state.ws.close(1000);
      state.ws = null;
    }
    setLive(false);
    if ($("confirm-dialog").open) {
      $("confirm-dialog").close();
    }
    showLogin(message);
  }

  function start(status) {
    showStatus(status);
    makeCharts();
    connect();
    refreshers.equity();
    ["account", "positions", "orders", "fills", "bars", "signals", "risk"].forEach(function (name) {
      refreshers[name]();
    });
    state.timers.push(setInterval(function () {
      ["status", "account", "positions", "orders"].forEach(function (name) { refreshers[name](); });
    }, 5000));
    state.timers.push(setInterval(function () {
      if (!document.hidden) {
        refreshers.bars();
      }
    }, 3000));
    state.timers.push(setInterval(function () {
      ["fills", "signals", "risk"].forEach(function (name) { refreshers[name](); });
    }, 15000));
  }

  // -- the event stream ---------------------------------------------------------------------

  function setLive(live) {
    probe.wsOpen = live;
    $("ws-status").dataset.live = live ? "true" : "false";
    $("ws-status").textContent = live ? "live" : state.token ? "reconnecting" : "offline";
  }

  function connect() {
    if (!state.token || state.ws) {
      return;
    }
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + API + "/ws";
    var socket = new WebSocket(url, ["tradeloop", "bearer." + state.token]);
    var opened = false;
    state.ws = socket;
    socket.onopen = function () {
      opened = true;
      state.wsRetry = 0;
      setLive(true);
      if (state.wsOpened) {  // events may have been missed while away
        Object.keys(refreshers).forEach(function (name) { refreshers[name](); });
      }
      state.wsOpened = true;
    };
    socket.onmessage = function (event) {
      var message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      onMessage(message);
    };
    socket.onclose = function (event) {
      if (state.ws === socket) {
        state.ws = null;
      }
      setLive(false);
      if (!state.token) {
        return;
      }
      if (!opened) {  // refused: find out whether the token still holds
        api("GET", "/status").then(showStatus, failed);
      }
      var delay = event.code === 1013 ? 500 : Math.min(30000, 1000 * Math.pow(2, state.wsRetry));
      state.wsRetry += 1;
      clearTimeout(state.wsTimer);
      state.wsTimer = setTimeout(connect, delay + Math.random() * 250);
    };
  }

  function onMessage(message) {
    var data = message.data || {};
    probe.received[message.type] = (probe.received[message.type] || 0) + 1;
    if (message.type === "equity") {
      showAccount(data);
      addEquity(message.ts, data.equity);
    } else if (message.type === "position") {
      schedule("positions");
    } else if (message.type === "fill") {
      schedule("positions");
      schedule("orders");
      schedule("fills");
    } else if (message.type === "order") {
      schedule("orders");
      if (data.event === "OrderDenied") {
        schedule("risk");
      }
    } else if (message.type === "risk_state") {
      showState(data.state, data.reason);
      schedule("status");
      schedule("risk");
    } else if (message.type === "log") {
      addLog(message.ts, data);
    }
  }

  // -- cards --------------------------------------------------------------------------------

  function showStatus(status) {
    text("node-name", status.name + " · " + status.mode + (status.running ? "" : " (stored)"));
    var reason = status.state_reason || "";
    if (status.kill_engaged) {
      reason = "kill switch" + (status.kill_by ? " by " + status.kill_by : "") +
        (status.kill_reason ? ": " + status.kill_reason : "");
    }
    showState(status.trading_state, reason);
  }

  function showState(tradingState, reason) {
    $("card-state").dataset.state = tradingState || "";
    text("state-value", tradingState || "–");
    text("state-reason", reason || "");
  }

  function showAccount(account) {
    var currency = account.currency ? " " + account.currency : "";
    text("balance-value", number(account.balance, 2) + currency);
    text("equity-value", number(account.equity, 2) + currency);
    text("unrealized-value", "unrealized " + signed(account.unrealized_pnl));
    text("daily-pnl-value", signed(account.daily_pnl));
    tone($("daily-pnl-value"), account.daily_pnl);
    var drawdown = Number(account.drawdown) * 100;
    text("drawdown-value", (isFinite(drawdown) ? drawdown.toFixed(2) : "–") + " %");
    tone($("drawdown-value"), drawdown);
    text("peak-value", "peak " + number(account.peak_equity, 2));
  }

  // -- charts -------------------------------------------------------------------------------

  function makeCharts() {
    var LWC = window.LightweightCharts;
    if (charts.equity || !LWC) {
      return;
    }
    var options = function () {
      return {
        autoSize: true,
        layout: { background: { type: "solid", color: "#161b22" }, textColor: "#c9d1d9" },
        grid: { vertLines: { color: "#21262d" }, horzLines: { color: "#21262d" } },
        rightPriceScale: { borderColor: "#2a3140" },
        timeScale: { borderColor: "#2a3140", timeVisible: true, secondsVisible: false, rightOffset: 8 }
      };
    };
    charts.equity = LWC.createChart($("equity-chart"), options());
    charts.equitySeries = charts.equity.addSeries(LWC.LineSeries, {
      color: "#58a6ff", lineWidth: 2, priceFormat: { type: "price", precision: 2, minMove: 0.01 }
    });
    charts.candle = LWC.createChart($("candle-chart"), options());
    charts.candleSeries = charts.candle.addSeries(LWC.CandlestickSeries, {
      upColor: UP, downColor: DOWN, borderVisible: false, wickUpColor: UP, wickDownColor: DOWN
    });
    charts.markers = LWC.createSeriesMarkers(charts.candleSeries, []);
  }

  function addEquity(ns, value) {
    var y = Number(value);
    if (!charts.equitySeries || !isFinite(y)) {
      return;
    }
    var time = Math.floor(Number(ns) / 1e9);
    if (state.equityLast !== null && time < state.equityLast) {
      return;
    }
    if (time !== state.equityLast) {
      probe.equityPoints += 1;
    }
    state.equityLast = time;
    charts.equitySeries.update({ time: time, value: y });
    if (probe.equityPoints > EQUITY_POINTS * 1.1) {  // a point a second: keep the last hours
      charts.equitySeries.setData(charts.equitySeries.data().slice(-EQUITY_POINTS));
      probe.equityPoints = EQUITY_POINTS;
    }
  }

  function showEquity(performance) {
    showAccount(performance.account);
    if (!charts.equitySeries || state.equityLast !== null) {
      return;
    }
    var points = [];
    var last = null;
    performance.equity.slice(-EQUITY_POINTS).forEach(function (point) {
      var time = Math.floor(Number(point.ts) / 1e9);
      var value = Number(point.equity);
      if (!isFinite(value) || (last !== null && time < last)) {
        return;
      }
      if (time === last) {
        points[points.length - 1].value = value;
      } else {
        points.push({ time: time, value: value });
      }
      last = time;
    });
    charts.equitySeries.setData(points);
    state.equityLast = last;
    probe.equityPoints = points.length;
  }

  function priceDecimals(price) {
    return price < 10 ? 5 : price < 1000 ? 3 : 2;
  }

  function showBars(answer) {
    updateSymbols(answer.symbols);
    if (!state.symbol) {
      state.symbol = answer.symbol;
      $("symbol-select").value = answer.symbol;
    }
    if (!charts.candleSeries || answer.symbol !== state.symbol || answer.timeframe !== state.timeframe) {
      return;
    }
    var bars = answer.bars.map(function (b) {
      return { time: Math.round(b.ts / 1e9), open: b.open, high: b.high, low: b.low, close: b.close };
    });
    var key = answer.symbol + "|" + answer.timeframe;
    if (key !== state.candleKey || !bars.length || state.candleLast === null) {
      var decimals = bars.length ? priceDecimals(bars[bars.length - 1].close) : 5;
      charts.candleSeries.applyOptions({
        priceFormat: { type: "price", precision: decimals, minMove: Math.pow(10, -decimals) }
      });
      charts.candleSeries.setData(bars);
      state.candleKey = key;
      state.candleFirst = bars.length ? bars[0].time : null;
      state.candleLast = bars.length ? bars[bars.length - 1].time : null;
      probe.candles = bars.length;
      charts.candle.timeScale().scrollToRealTime();
    } else {
      bars.forEach(function (bar) {
        if (bar.time >= state.candleLast) {
          if (bar.time > state.candleLast) {
            probe.candles += 1;
          }
          charts.candleSeries.update(bar);
          state.candleLast = bar.time;
        }
      });
    }
    text("candle-note", bars.length ? "" : "No market data for " + answer.symbol + " yet.");
    probe.symbol = answer.symbol;
    showMarkers();
  }

  function showMarkers() {
    if (!charts.markers) {
      return;
    }
    var step = TIMEFRAME_S[state.timeframe] || 60;
    var first = state.candleFirst;
    var last = state.candleLast;
    var markers = state.fills.filter(function (fill) {
      return fill.symbol === state.symbol;
    }).map(function (fill) {
      var buy = fill.side === "BUY";
      return {
        time: Math.floor(Number(fill.ts) / 1e9 / step) * step,
        position: buy ? "belowBar" : "aboveBar",
        color: buy ? UP : DOWN,
        shape: buy ? "arrowUp" : "arrowDown",
        text: (buy ? "B " : "S ") + fill.quantity + " @ " + fill.price
      };
    }).filter(function (m) {
      return first !== null && m.time >= first && m.time <= last;
    }).sort(function (a, b) { return a.time - b.time; });
    charts.markers.setMarkers(markers);
    probe.markers = markers.length;
  }

  function updateSymbols(extra) {
    var known = state.symbols.slice();
    (extra || []).forEach(function (symbol) {
      if (symbol && known.indexOf(symbol) < 0) {
        known.push(symbol);
      }
    });
    known.sort();
    if (known.join(",") === state.symbols.join(",")) {
      return;
    }
    state.symbols = known;
    var select = $("symbol-select");
    select.replaceChildren();
    known.forEach(function (symbol) {
      var option = document.createElement("option");
      option.value = symbol;
      option.textContent = symbol;
      select.appendChild(option);
    });
    select.value = state.symbol;
  }

  // -- tables -------------------------------------------------------------------------------

  function cell(row, value, className) {
    var td = document.createElement("td");
    td.textContent = plain(value);
    if (className) {
      td.className = className;
    }
    row.appendChild(td);
    return td;
  }

  function button(row, label, testid, onClick) {
    var td = document.createElement("td");
    var b = document.createElement("button");
    b.type = "button";
    b.className = "small";
    b.textContent = label;
    b.dataset.testid = testid;
    b.addEventListener("click", onClick);
    td.appendChild(b);
    row.appendChild(td);
  }

  function fillTable(id, items, render) {
    var body = $(id + "-table").querySelector("tbody");
    body.replaceChildren();
    items.forEach(function (item) {
      var row = document.createElement("tr");
      render(row, item);
      body.appendChild(row);
    });
    $(id + "-empty").hidden = items.length > 0;
  }

  function showPositions(positions) {
    updateSymbols(positions.map(function (p) { return p.symbol; }));
    fillTable("positions", positions, function (row, p) {
      row.dataset.symbol = p.symbol;
      row.dataset.strategy = p.strategy_id;
      cell(row, p.symbol);
      cell(row, p.strategy_id);
      cell(row, p.quantity, "num").dataset.testid = "position-qty";
      cell(row, price(p.avg_price), "num");
      cell(row, price(p.last_price), "num");
      tone(cell(row, p.unrealized_pnl === null ? "" : signed(p.unrealized_pnl), "num"), p.unrealized_pnl);
      cell(row, signed(p.realized_pnl), "num");
      button(row, "Close", "close-" + p.symbol, function () {
        ask({
          title: "Close " + p.symbol + "?",
          message: "A market order closes every " + p.symbol + " position.",
          run: function () { return api("POST", "/control/flatten", { symbol: p.symbol }); },
          done: function (result) { return "Closing orders sent: " + result.client_order_ids.length; }
        });
      });
    });
  }

  function showOrders(orders) {
    fillTable("orders", orders, function (row, o) {
      row.dataset.orderId = o.client_order_id;
      cell(row, o.client_order_id, "id").title = o.client_order_id;
      cell(row, o.symbol);
      cell(row, o.side);
      cell(row, o.type);
      cell(row, o.quantity, "num");
      cell(row, o.filled_quantity, "num");
      cell(row, price(o.price || o.trigger_price), "num");
      cell(row, o.status);
      button(row, "Cancel", "cancel-" + o.client_order_id, function () {
        ask({
          title: "Cancel order?",
          message: o.side + " " + o.quantity + " " + o.symbol + " (" + o.client_order_id + ")",
          run: function () { return api("DELETE", "/orders/" + encodeURIComponent(o.client_order_id)); },
          done: function () { return "Cancel sent for " + o.client_order_id; }
        });
      });
    });
  }

  function showSignals(signals) {
    fillTable("signals", signals, function (row, s) {
      cell(row, isoTime(s.received_ns));
      cell(row, s.source);
      cell(row, s.status);
      cell(row, JSON.stringify(s.payload), "wrap");
    });
  }

  function showRiskEvents(events) {
    fillTable("risk", events, function (row, e) {
      cell(row, isoTime(e.ts));
      cell(row, e.rule);
      cell(row, e.decision);
      cell(row, e.symbol);
      cell(row, e.reason + (e.by ? " (" + e.by + ")" : ""), "wrap");
    });
  }

  function addLog(ns, data) {
    var list = $("log-list");
    var item = document.createElement("li");
    item.dataset.level = data.level || "";
    item.textContent = isoTime(ns) + " " + plain(data.level) + " " + plain(data.logger) + ": " + plain(data.message);
    list.insertBefore(item, list.firstChild);
    while (list.children.length > 50) {
      list.removeChild(list.lastChild);
    }
  }

  // -- controls -----------------------------------------------------------------------------

  var ACTIONS = {
    pause: {
      title: "Pause trading?", reason: true,
      message: "New entries are refused until you resume; orders that reduce positions still pass.",
      run: function (f) { return api("POST", "/control/pause", { reason: f.reason }); }
    },
    resume: {
      title: "Resume trading?", reason: true,
      message: "Lifts a pause (the kill switch needs a re-arm).",
      run: function (f) { return api("POST", "/control/resume", { reason: f.reason }); }
    },
    kill: {
      title: "Engage the kill switch?", reason: true, kill: true,
      message: "No new orders until an admin re-arms it, across restarts too.",
      run: function (f) {
        return api("POST", "/control/kill", { reason: f.reason || "kill from the dashboard", flatten: f.flatten });
      }
    },
    flatten: {
      title: "Flatten every position?",
      message: "Market orders close every open position.",
      run: function () { return api("POST", "/control/flatten", {}); },
      done: function (result) { return "Closing orders sent: " + result.client_order_ids.length; }
    },
    rearm: {
      title: "Re-arm the kill switch?", reason: true, reasonRequired: true, admin: true,
      message: "Trading may start again. Say why it is safe; this needs the admin scope.",
      run: function (f) { return api("POST", "/control/rearm", { reason: f.reason }, f.adminToken || undefined); }
    }
  };

  function ask(action) {
    state.pending = action;
    text("confirm-title", action.title);
    text("confirm-message", action.message);
    $("kill-fields").hidden = !action.kill;
    $("reason-fields").hidden = !action.reason;
    $("admin-fields").hidden = !action.admin;
    $("kill-flatten").checked = false;
    $("confirm-reason").value = "";
    $("admin-token").value = "";
    $("confirm-error").hidden = true;
    $("confirm-ok").disabled = false;
    $("confirm-dialog").showModal();
  }

  function confirmPending() {
    var action = state.pending;
    if (!action) {
      return;
    }
    var fields = {
      reason: $("confirm-reason").value.trim(),
      flatten: $("kill-flatten").checked,
      adminToken: $("admin-token").value.trim()
    };
    if (action.reasonRequired && !fields.reason) {
      $("confirm-error").textContent = "A reason is needed.";
      $("confirm-error").hidden = false;
      return;
    }
    $("confirm-ok").disabled = true;
    action.run(fields).then(function (result) {
      state.pending = null;
      $("admin-token").value = "";
      $("confirm-dialog").close();
      if (result && result.state !== undefined) {  // a RiskView
        showState(result.state, result.reason);
      }
      notice(action.done ? action.done(result) : "Done: " + action.title.replace("?", ""), "ok");
      ["status", "positions", "orders", "risk"].forEach(schedule);
    }, function (error) {
      $("confirm-ok").disabled = false;
      if (error.status === 401 && !error.scope && error.ownToken) {
        failed(error);
        return;
      }
      $("confirm-error").textContent = error.scope
        ? "Not allowed with this token: " + error.message
        : error.message;
      $("confirm-error").hidden = false;
    });
  }

  // -- wiring -------------------------------------------------------------------------------

  refresher("status", function () { return api("GET", "/status").then(showStatus); });
  refresher("account", function () { return api("GET", "/account").then(showAccount); });
  refresher("equity", function () { return api("GET", "/performance").then(showEquity); });
  refresher("positions", function () { return api("GET", "/positions").then(showPositions); });
  refresher("orders", function () { return api("GET", "/orders?open_only=true").then(showOrders); });
  refresher("signals", function () { return api("GET", "/signals?limit=20").then(showSignals); });
  refresher("risk", function () { return api("GET", "/risk/events?limit=20").then(showRiskEvents); });
  refresher("fills", function () {
    return api("GET", "/fills?limit=500").then(function (fills) {
      state.fills = fills;
      showMarkers();
    });
  });
  refresher("bars", function () {
    var query = "?timeframe=" + encodeURIComponent(state.timeframe) + "&limit=" + BAR_LIMIT +
      (state.symbol ? "&symbol=" + encodeURIComponent(state.symbol) : "");
    return api("GET", "/bars" + query).then(showBars, function (error) {
      if (error.status === 409) {  // no node in this process: no market data to draw
        text("candle-note", error.message);
        return;
      }
      throw error;
    });
  });

  function init() {
    $("login-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var token = $("token").value.trim();
      if (token) {
        login(token);
      }
    });
    $("logout").addEventListener("click", function () { logout(""); });
    Object.keys(ACTIONS).forEach(function (name) {
      $("btn-" + name).addEventListener("click", function () { ask(ACTIONS[name]); });
    });
    $("confirm-ok").addEventListener("click", confirmPending);
    $("confirm-form").addEventListener("submit", function (event) {
      event.preventDefault();
      confirmPending();
    });
    $("confirm-cancel").addEventListener("click", function () {
      state.pending = null;
      $("confirm-dialog").close();
    });
    $("symbol-select").addEventListener("change", function (event) {
      state.symbol = event.target.value;
      state.candleKey = "";
      refreshers.bars();
    });
    $("timeframe-select").addEventListener("change", function (event) {
      state.timeframe = event.target.value;
      state.candleKey = "";
      refreshers.bars();
    });
    var saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) {
      $("login").hidden = true;
      login(saved);
    } else {
      showLogin("");
    }
    probe.ready = true;
  }

  init();
}());
