// Tradewire console: copy buttons, confirmations of plain forms, and the analytics chart.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = source.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (e) {
    // No clipboard access (plain HTTP on a remote host): select the text for Ctrl+C.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Selected: press Ctrl+C";
  }
  button.dataset.copied = text;
});

document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

function drawCurve() {
  const box = document.getElementById("equity-chart");
  const data = document.getElementById("curve-data");
  if (!box || !data || !window.LightweightCharts) return;
  const curve = JSON.parse(data.textContent);
  const LC = window.LightweightCharts;
  const chart = LC.createChart(box, {
    autoSize: true,
    layout: { background: { color: "#ffffff" }, textColor: "#38424f" },
    grid: { vertLines: { color: "#eef0f3" }, horzLines: { color: "#eef0f3" } },
    timeScale: { timeVisible: true, secondsVisible: false },
  });
  const equity = chart.addSeries(LC.LineSeries, { color: "#2456d3", lineWidth: 2, title: "realised PnL" });
  equity.setData(curve.equity);
  // The drawdown in its own pane below (pane 1): at most 0, filled from 0 down to the curve.
  const drawdown = chart.addSeries(LC.AreaSeries, {
    lineColor: "#c62828", topColor: "rgba(198,40,40,0.35)", bottomColor: "rgba(198,40,40,0.35)",
    lineWidth: 1, title: "drawdown", invertFilledArea: true,
  }, 1);
  drawdown.setData(curve.drawdown);
  const panes = chart.panes();
  if (panes.length > 1) panes[1].setHeight(Math.round(box.clientHeight * 0.3));
  chart.timeScale().fitContent();
  box.dataset.drawn = String(curve.equity.length);
}

document.addEventListener("DOMContentLoaded", drawCurve);
