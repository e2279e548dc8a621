/* tradeloop backtest report: builds the charts from the JSON block #tradeloop-data with
   TradingView lightweight-charts (inlined above), then publishes what the charts hold on
   window.tradeloopReport. Text from the data is only ever set through textContent. */
(function () {
  "use strict";

  var UP = "#16a34a";
  var DOWN = "#dc2626";
  var HIDDEN = "rgba(0, 0, 0, 0)";
  var MAX_LABELLED_MARKERS = 80;
  var LEVEL_COLOURS = { stop: "#dc2626", target: "#16a34a" };

  // minBarSpacing: how many points fitContent may squeeze into the plot (pixels per point).
  function chartOptions(intraday, showSeconds, minBarSpacing) {
    return {
      autoSize: true,
      layout: {
        background: { type: "solid", color: "#ffffff" },
        textColor: "#1f2933",
        fontSize: 12,
        attributionLogo: true,
        panes: { separatorColor: "#d8dee4", enableResize: true }
      },
      grid: { vertLines: { color: "#f0f2f5" }, horzLines: { color: "#f0f2f5" } },
      rightPriceScale: { borderColor: "#d8dee4" },
      timeScale: {
        borderColor: "#d8dee4",
        timeVisible: intraday,
        secondsVisible: showSeconds,
        minBarSpacing: minBarSpacing
      },
      crosshair: { mode: 0 }
    };
  }

  function isoTime(seconds, intraday) {
    var text = new Date(seconds * 1000).toISOString();
    return intraday ? text.slice(0, 19).replace("T", " ") : text.slice(0, 10);
  }

  function priceFormat(decimals) {
    return { type: "price", precision: decimals, minMove: Math.pow(10, -decimals) };
  }

  function addTooltip(element) {
    var tip = document.createElement("div");
    tip.className = "tooltip";
    tip.style.display = "none";
    element.appendChild(tip);
    return tip;
  }

  function columnsToPoints(times, values) {
    var out = [];
    for (var i = 0; i < times.length; i++) {
      out.push(values[i] === null ? { time: times[i] } : { time: times[i], value: values[i] });
    }
    return out;
  }

  // A lane draws its stop/target segments as one line: each segment's first point carries the
  // lane's colour (a line takes the colour of the point it starts from) and its last point is
  // transparent, hiding the connector to the next segment. So a lane holds one visible
  // starting point per segment.
  function countSegments(data, colour) {
    var segments = 0;
    for (var i = 0; i < data.length; i++) {
      if (data[i].color === colour) {
        segments += 1;
      }
    }
    return segments;
  }

  function buildEquity(LWC, element, equity, state) {
    var chart = LWC.createChart(element, chartOptions(equity.intraday, false, 0.001));
    var equitySeries = chart.addSeries(LWC.AreaSeries, {
      lineColor: "#2563eb",
      topColor: "rgba(37, 99, 235, 0.22)",
      bottomColor: "rgba(37, 99, 235, 0.02)",
      lineWidth: 2,
      priceFormat: priceFormat(2),
      title: "equity"
    });
    equitySeries.setData(columnsToPoints(equity.time, equity.equity));
    var drawdownSeries = chart.addSeries(LWC.BaselineSeries, {
      baseValue: { type: "price", price: 0 },
      topLineColor: "rgba(0, 0, 0, 0)",
      topFillColor1: "rgba(0, 0, 0, 0)",
      topFillColor2: "rgba(0, 0, 0, 0)",
      bottomLineColor: DOWN,
      bottomFillColor1: "rgba(220, 38, 38, 0.08)",
      bottomFillColor2: "rgba(220, 38, 38, 0.35)",
      lineWidth: 1,
      priceFormat: { type: "custom", minMove: 0.01, formatter: function (v) { return (Math.abs(v) < 0.005 ? 0 : v).toFixed(2) + " %"; } },
      title: "drawdown"
    }, 1);
    drawdownSeries.setData(columnsToPoints(equity.time, equity.drawdown));
    var panes = chart.panes();
    if (panes.length > 1) {
      panes[0].setStretchFactor(3);
      panes[1].setStretchFactor(1);
    }
    chart.timeScale().fitContent();
    var tip = addTooltip(element);
    chart.subscribeCrosshairMove(function (param) {
      var point = param.time === undefined ? undefined : param.seriesData.get(equitySeries);
      var dd = param.time === undefined ? undefined : param.seriesData.get(drawdownSeries);
      if (!point) {
        tip.style.display = "none";
        return;
      }
      tip.textContent = isoTime(point.time, equity.intraday) + "  equity " + point.value.toLocaleString(
        undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 }) +
        (dd ? "  drawdown " + dd.value.toFixed(2) + " %" : "");
      tip.style.display = "block";
    });
    state.equity = {
      points: equitySeries.data().length,
      drawdownPoints: drawdownSeries.data().length
    };
    return chart;
  }

  function buildPrices(LWC, element, item) {
    var chart = LWC.createChart(element, chartOptions(item.intraday, item.show_seconds, 0.1));
    var main;
    var n = item.time.length;
    var points = [];
    var i;
    if (item.kind === "candles") {
      main = chart.addSeries(LWC.CandlestickSeries, {
        upColor: UP, downColor: DOWN, borderUpColor: UP, borderDownColor: DOWN,
        wickUpColor: UP, wickDownColor: DOWN, priceFormat: priceFormat(item.decimals)
      });
      for (i = 0; i < n; i++) {
        if (item.open[i] === null || item.high[i] === null || item.low[i] === null ||
            item.close[i] === null) {
          points.push({ time: item.time[i] });
        } else {
          points.push({ time: item.time[i], open: item.open[i], high: item.high[i],
                        low: item.low[i], close: item.close[i] });
        }
      }
    } else {
      main = chart.addSeries(LWC.LineSeries, {
        color: "#2563eb", lineWidth: 1, priceFormat: priceFormat(item.decimals)
      });
      points = columnsToPoints(item.time, item.value);
    }
    main.setData(points);

    var volumeSeries = null;
    if (item.volume) {
      volumeSeries = chart.addSeries(LWC.HistogramSeries, {
        priceFormat: { type: "volume" }, priceLineVisible: false, lastValueVisible: false
      }, 1);
      var bars = [];
      for (i = 0; i < n; i++) {
        if (item.volume[i] === null) {
          bars.push({ time: item.time[i] });
        } else {
          var rising = item.kind !== "candles" || item.close[i] >= item.open[i];
          bars.push({ time: item.time[i], value: item.volume[i],
                      color: rising ? "rgba(22, 163, 74, 0.45)" : "rgba(220, 38, 38, 0.45)" });
        }
      }
      volumeSeries.setData(bars);
      var panes = chart.panes();
      if (panes.length > 1) {
        panes[0].setStretchFactor(4);
        panes[1].setStretchFactor(1);
      }
    }

    var levelSeries = [];
    item.levels.forEach(function (lane) {
      var colour = LEVEL_COLOURS[lane.kind];
      var line = chart.addSeries(LWC.LineSeries, {
        color: colour, lineWidth: 2, lineStyle: 2,
        priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false,
        pointMarkersVisible: false
      });
      line.setData(lane.points.map(function (p, i) {
        return { time: p[0], value: p[1], color: i % 2 === 0 ? colour : HIDDEN };
      }));
      levelSeries.push({ series: line, colour: colour });
    });

    var tradesAt = {};
    var markers = item.markers.map(function (m) {
      (tradesAt[m.time] = tradesAt[m.time] || []).push(m.tip);
      var buy = m.side === "buy";
      return {
        time: m.time,
        position: buy ? "belowBar" : "aboveBar",
        shape: buy ? "arrowUp" : "arrowDown",
        color: buy ? UP : DOWN,
        text: m.text,
        size: 1
      };
    });
    var bare = markers.map(function (m) {
      return { time: m.time, position: m.position, shape: m.shape, color: m.color, size: 1 };
    });
    var markerPlugin = LWC.createSeriesMarkers(main, bare);
    // Marker labels only while few enough markers are in view to stay readable.
    var labelled = null;
    function labelMarkers() {
      var range = chart.timeScale().getVisibleRange();
      var visible = markers.length;
      if (range) {
        visible = 0;
        for (var k = 0; k < markers.length; k++) {
          if (markers[k].time >= range.from && markers[k].time <= range.to) {
            visible += 1;
          }
        }
      }
      var wanted = visible <= MAX_LABELLED_MARKERS;
      if (wanted !== labelled) {
        labelled = wanted;
        markerPlugin.setMarkers(wanted ? markers : bare);
      }
    }
    chart.timeScale().subscribeVisibleTimeRangeChange(labelMarkers);
    chart.timeScale().fitContent();
    labelMarkers();

    var tip = addTooltip(element);
    chart.subscribeCrosshairMove(function (param) {
      var bar = param.time === undefined ? undefined : param.seriesData.get(main);
      if (!bar) {
        tip.style.display = "none";
        return;
      }
      var d = item.decimals;
      var lines = [item.symbol + "  " + isoTime(bar.time, item.intraday)];
      if (bar.open !== undefined) {
        lines.push("O " + bar.open.toFixed(d) + "  H " + bar.high.toFixed(d) + "  L " +
                   bar.low.toFixed(d) + "  C " + bar.close.toFixed(d));
      } else if (bar.value !== undefined) {
        lines.push(bar.value.toFixed(d));
      }
      (tradesAt[bar.time] || []).forEach(function (text) { lines.push(text); });
      tip.textContent = lines.join("\n");
      tip.style.display = "block";
    });

    var segments = 0;
    levelSeries.forEach(function (line) {
      segments += countSegments(line.series.data(), line.colour);
    });
    return {
      chart: chart,
      summary: {
        kind: item.kind,
        points: main.data().length,
        candles: item.kind === "candles" ? main.data().length : 0,
        markers: markerPlugin.markers().length,
        volumeBars: volumeSeries ? volumeSeries.data().length : 0,
        levelSeries: levelSeries.length,
        levelSegments: segments
      }
    };
  }

  function fail(element, error) {
    var note = document.createElement("div");
    note.className = "failed";
    note.textContent = "This chart could not be drawn: " + error;
    element.appendChild(note);
  }

  function build() {
    var data = JSON.parse(document.getElementById("tradeloop-data").textContent);
    var LWC = window.LightweightCharts;
    var state = { ready: false, library: LWC ? LWC.version() : null, charts: 0,
                  equity: null, symbols: {} };
    var charts = [];
    var equityElement = document.getElementById("equity-chart");
    if (!LWC) {
      document.querySelectorAll(".chart").forEach(function (el) {
        fail(el, "the charting library did not load");
      });
      throw new Error("lightweight-charts did not load");
    }
    if (equityElement) {
      charts.push(buildEquity(LWC, equityElement, data.equity, state));
    }
    data.symbols.forEach(function (item, k) {
      var element = document.getElementById("price-chart-" + k);
      if (!element) {
        return;
      }
      var built = buildPrices(LWC, element, item);
      charts.push(built.chart);
      var key = state.symbols[item.symbol] ? item.symbol + "#" + k : item.symbol;
      state.symbols[key] = built.summary;
    });
    state.charts = charts.length;
    state.ready = true;
    window.tradeloopReport = state;
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", build);
  } else {
    build();
  }
})();
