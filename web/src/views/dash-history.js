// The dashboard's memory: a few minutes of metric snapshots per connector,
// and the series the charts draw from them. Kept at module level so that
// going from the list to one connector and back does not lose the charts;
// in memory only, for as long as the page is open.
import { quantileBetween, meanBetween } from './dash-prom.js';

export const KEEP_SECONDS = 300;
// Points further apart than this (polling was paused: the tab was hidden)
// are drawn as a gap rather than as one long average.
const GAP_SECONDS = 7;
// Latency percentiles are taken over this window (bucket deltas of a single
// 2 s interval are too few observations to say much).
const LATENCY_WINDOW_SECONDS = 10;

const histories = new Map(); // connector name → [{t, snap}]

export function record(name, t, snap) {
  let h = histories.get(name);
  if (!h) histories.set(name, (h = []));
  const last = h[h.length - 1];
  // Counters that went down: the server restarted; the old points say
  // nothing about the new process, so start again.
  if (last && (snap.incoming < last.snap.incoming || snap.e2e.count < last.snap.e2e.count)) h.length = 0;
  h.push({ t, snap });
  while (h.length > 0 && h[0].t < t - KEEP_SECONDS) h.shift();
}

export function forget(names) {
  for (const name of [...histories.keys()]) if (!names.has(name)) histories.delete(name);
}

export function samples(name) {
  return histories.get(name) || [];
}

function rate(a, b, pick) {
  const dt = b.t - a.t;
  if (dt <= 0 || dt > GAP_SECONDS) return null;
  const d = pick(b.snap) - pick(a.snap);
  return d >= 0 ? d / dt : null;
}

// The latest per-second rate of a counter, or null before two samples.
export function latestRate(name, pick) {
  const h = samples(name);
  if (h.length < 2) return null;
  return rate(h[h.length - 2], h[h.length - 1], pick);
}

// Chart columns: times, incoming/s, saved/s.
export function throughput(name) {
  const h = samples(name);
  const times = [];
  const incoming = [];
  const saved = [];
  for (let i = 1; i < h.length; i++) {
    times.push(h[i].t);
    incoming.push(rate(h[i - 1], h[i], (s) => s.incoming));
    saved.push(rate(h[i - 1], h[i], (s) => s.saved));
  }
  return { times, incoming, saved };
}

function windowStart(h, i) {
  let j = i - 1;
  while (j > 0 && h[i].t - h[j - 1].t <= LATENCY_WINDOW_SECONDS + 0.5) j--;
  return j;
}

// Chart columns: times, end-to-end p50 and p95 in milliseconds (null where
// nothing was written in the window).
export function latency(name, key = 'e2e') {
  const h = samples(name);
  const times = [];
  const p50 = [];
  const p95 = [];
  for (let i = 1; i < h.length; i++) {
    times.push(h[i].t);
    const j = windowStart(h, i);
    if (h[i].t - h[i - 1].t > GAP_SECONDS) {
      p50.push(null);
      p95.push(null);
      continue;
    }
    const a = h[j].snap[key];
    const b = h[i].snap[key];
    const q50 = quantileBetween(a, b, 0.5);
    const q95 = quantileBetween(a, b, 0.95);
    p50.push(q50 === null ? null : q50 * 1000);
    p95.push(q95 === null ? null : q95 * 1000);
  }
  return { times, p50, p95 };
}

// The mean of a histogram over the last `seconds` kept (null when nothing
// was observed then), and the number of observations it is over.
export function recentMean(name, key, seconds = 60) {
  const h = samples(name);
  if (h.length < 2) return { mean: null, count: 0 };
  const last = h[h.length - 1];
  let first = h.length - 2;
  while (first > 0 && last.t - h[first - 1].t <= seconds) first--;
  return {
    mean: meanBetween(h[first].snap[key], last.snap[key]),
    count: last.snap[key].count - h[first].snap[key].count,
    seconds: Math.round(last.t - h[first].t),
  };
}
