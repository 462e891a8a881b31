// A small line chart drawn as inline SVG: one series of {t, v, label} points, time on x.

const NS = 'http://www.w3.org/2000/svg';
const W = 460;
const H = 150;
const PAD = { left: 52, right: 12, top: 12, bottom: 24 };

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A round upper bound for the y axis: 1, 2 or 5 times a power of ten. */
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const clock = (ms) => new Date(ms).toISOString().slice(11, 19);

/**
 * Draws `points` (sorted or not; `t` in ms, `v` a number) into a new <svg> and returns it.
 * `format` renders a value for the tooltips.
 */
export function lineChart(points, { title, className, format = (v) => String(v) }) {
  // Axis values are round (niceMax): print them without trailing zeros.
  const tick = (v) => String(Number(v.toPrecision(3)));
  const svg = el('svg', {
    viewBox: `0 0 ${W} ${H}`,
    class: `chart ${className || ''}`.trim(),
    role: 'img',
    'aria-label': title,
  });
  svg.append(el('title', {}, title));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const sorted = points.filter((p) => Number.isFinite(p.v)).sort((a, b) => a.t - b.t);
  const yMax = niceMax(Math.max(0, ...sorted.map((p) => p.v)));
  const t0 = sorted.length ? sorted[0].t : 0;
  const t1 = sorted.length ? sorted[sorted.length - 1].t : 0;
  const x = (t) => PAD.left + (t1 > t0 ? ((t - t0) / (t1 - t0)) * plotW : plotW / 2);
  const y = (v) => PAD.top + plotH - (v / yMax) * plotH;

  // Axes and grid: 0, half and the top.
  for (const frac of [0, 0.5, 1]) {
    const gy = y(yMax * frac);
    svg.append(el('line', { x1: PAD.left, x2: W - PAD.right, y1: gy, y2: gy, class: frac ? 'grid' : 'axis' }));
    svg.append(el('text', { x: PAD.left - 6, y: gy + 4, class: 'tick', 'text-anchor': 'end' }, tick(yMax * frac)));
  }
  if (!sorted.length) {
    svg.append(el('text', { x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, class: 'empty', 'text-anchor': 'middle' }, 'no requests yet'));
    return svg;
  }
  svg.append(el('text', { x: PAD.left, y: H - 6, class: 'tick' }, clock(t0)));
  if (t1 > t0) svg.append(el('text', { x: W - PAD.right, y: H - 6, class: 'tick', 'text-anchor': 'end' }, clock(t1)));

  svg.append(
    el('polyline', {
      class: 'line',
      points: sorted.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' '),
    }),
  );
  for (const p of sorted) {
    const dot = el('circle', { class: 'point', cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 3 });
    dot.append(el('title', {}, `${p.label}: ${format(p.v)}`));
    svg.append(dot);
  }
  return svg;
}
