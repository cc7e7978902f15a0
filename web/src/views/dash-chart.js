// A small time chart (uPlot) for the dashboard: the last minutes of one or
// two series, sized to its box (it follows the page's width, down to phones),
// and described in words for screen readers, since a canvas says nothing.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { el } from './dash-ui.js';

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// series: [{label, stroke, dash?, format(v) → text}]
// windowSeconds: the time shown, ending now.
export function timeChart({ title, unit, series, height = 140, windowSeconds = 300 }) {
  const box = el('div', { class: 'dash-chart-plot' });
  const node = el('figure', { class: 'dash-chart' },
    el('figcaption', { class: 'dash-chart-title', text: title }), box);
  // The figure is one image for assistive technology; its label says what
  // it shows and the latest values (updated quietly: not a live region).
  box.setAttribute('role', 'img');
  box.setAttribute('aria-label', `${title}: no data yet`);

  let plot = null;
  let now = Date.now() / 1000;
  let data = [[], ...series.map(() => [])];

  const options = (width) => ({
    width,
    height,
    // The x scale always spans the window ending now, so the chart moves
    // while nothing happens rather than stretching the few points it has.
    scales: {
      x: { time: true, range: () => [now - windowSeconds, now] },
      y: { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] },
    },
    axes: [
      // Ticks on whole minutes, labelled HH:MM: the window is minutes long.
      { stroke: '#57606a', grid: { stroke: '#eaeef2' }, ticks: { stroke: '#d0d7de' }, space: 90,
        incrs: [60, 120, 300, 600], values: (u, splits) => splits.map(clock) },
      { stroke: '#57606a', grid: { stroke: '#eaeef2' }, ticks: { stroke: '#d0d7de' }, size: 50,
        values: (u, splits) => splits.map((v) => (v >= 1000 ? `${Math.round(v / 100) / 10}k` : `${+v.toPrecision(3)}`)) },
    ],
    series: [
      { label: 'Time', value: (u, v) => (v === null || v === undefined ? '–' : new Date(v * 1000).toLocaleTimeString()) },
      ...series.map((s) => ({
        label: `${s.label} (${unit})`,
        stroke: s.stroke,
        width: 2,
        dash: s.dash,
        spanGaps: false,
        points: { size: 4 },
        value: (u, v) => (v === null || v === undefined ? '–' : s.format(v)),
      })),
    ],
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
  });

  function describe() {
    const parts = series.map((s, i) => {
      const values = data[i + 1];
      let last = null;
      for (let k = values.length - 1; k >= 0; k--) {
        if (values[k] !== null && values[k] !== undefined) { last = values[k]; break; }
      }
      return `${s.label} ${last === null ? 'none' : s.format(last)}`;
    });
    box.setAttribute('aria-label', `${title}, last ${Math.round(windowSeconds / 60)} minutes; latest: ${parts.join(', ')}`);
  }

  function width() {
    return Math.max(200, Math.floor(box.clientWidth || node.clientWidth || 300));
  }

  // Created once the box is in the document and has a width.
  function ensure() {
    if (plot || !box.isConnected) return;
    plot = new uPlot(options(width()), data, box);
  }

  const resize = new ResizeObserver(() => {
    if (!box.isConnected) return;
    ensure();
    if (plot && Math.abs(plot.width - width()) > 2) plot.setSize({ width: width(), height });
  });
  resize.observe(node);

  return {
    node,
    // times: seconds since 1970; columns: one array per series (null = gap).
    update(times, columns, nowSeconds) {
      now = nowSeconds;
      data = [times, ...columns];
      ensure();
      if (plot) plot.setData(data);
      describe();
    },
    destroy() {
      resize.disconnect();
      if (plot) plot.destroy();
      plot = null;
    },
  };
}
