// The scfd console: sign-in, then namespaces -> functions -> one function (configuration,
// live requests, charts, logs). Hash routes:
//   #/                      namespaces
//   #/ns/NAME               functions of a namespace
//   #/ns/NAME/fn/FUNCTION   one function
// Everything shown comes from the signed API (api.js), as the signed-in account sees it.

import { call, ApiError } from './api.js';
import { defaultHashes } from './tc3.js';
import { lineChart } from './chart.js';

const STORAGE_KEY = 'scfd-console.session';
const DEFAULT_REGION = 'ap-guangzhou';
/** Tencent Cloud's public regions, as scfd accepts them by default (config.rs). */
const REGIONS = [
  'ap-guangzhou', 'ap-shanghai', 'ap-nanjing', 'ap-beijing', 'ap-chengdu', 'ap-chongqing',
  'ap-hongkong', 'ap-singapore', 'ap-jakarta', 'ap-seoul', 'ap-tokyo', 'ap-bangkok',
  'ap-mumbai', 'na-siliconvalley', 'na-ashburn', 'na-toronto', 'eu-frankfurt', 'sa-saopaulo',
  'ap-shanghai-fsi', 'ap-shenzhen-fsi', 'ap-beijing-fsi',
];
const POLL_MS = 2000;
/** GetFunctionLogs page size for the requests table and the charts. */
const RECENT = 100;

// ---- session (sessionStorage: gone when the tab closes) ---------------------------------

function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || 'null');
    return s && s.secretId && s.secretKey ? { region: DEFAULT_REGION, ...s } : null;
  } catch {
    return null;
  }
}

let session = loadSession();
/** The region picked before signing in, or of the session. */
let region = (session && session.region) || sessionStorage.getItem(`${STORAGE_KEY}.region`) || DEFAULT_REGION;

function saveSession() {
  if (session) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(STORAGE_KEY);
  sessionStorage.setItem(`${STORAGE_KEY}.region`, region);
}

const api = (action, params) => call({ ...session, region }, action, params);

// ---- DOM helpers ------------------------------------------------------------------------

/** Creates an element; props are attributes, except on* (listeners). Text is never parsed as HTML. */
function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c != null && c !== false) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

const view = () => document.getElementById('view');

function errorBox(err) {
  const text = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err && err.message ? err.message : err);
  return h('p', { class: 'error', role: 'alert' }, text);
}

function table(headers, rows, props = {}) {
  return h(
    'table',
    props,
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows),
  );
}

const plural = (n, word, none) => (n === 0 ? none : `${n} ${word}${n === 1 ? '' : 's'}`);
const mb = (bytes) => `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
const ms = (v) => `${Number(v).toFixed(v >= 100 ? 0 : 2)} ms`;
const nsHref = (ns) => `#/ns/${encodeURIComponent(ns)}`;
const fnHref = (ns, fn) => `${nsHref(ns)}/fn/${encodeURIComponent(fn)}`;

/** "2024-12-25 19:50:07" (the server's wall clock) as ms, read as UTC so it prints back the same. */
function parseTime(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})/.exec(s || '');
  return m ? Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : NaN;
}

// ---- routing ----------------------------------------------------------------------------

/** Bumped on every navigation: work started for an older page drops its results. */
let generation = 0;
let pollTimer = null;

function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
}

function route() {
  stopPolling();
  const gen = ++generation;
  let parts;
  try {
    parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    parts = []; // a malformed address: start from the namespaces
  }
  renderHeader(parts);
  if (!session) return renderSignIn();
  if (parts[0] === 'ns' && parts.length === 2) return renderFunctions(gen, parts[1]);
  if (parts[0] === 'ns' && parts[2] === 'fn' && parts.length === 4) return renderFunction(gen, parts[1], parts[3]);
  return renderNamespaces(gen);
}

function renderHeader(parts) {
  const crumbs = document.getElementById('crumbs');
  crumbs.replaceChildren();
  if (session) {
    crumbs.append(h('a', { href: '#/' }, 'Namespaces'));
    if (parts[0] === 'ns' && parts[1]) {
      crumbs.append(h('span', { class: 'sep' }, '/'), h('a', { href: nsHref(parts[1]) }, parts[1]));
      if (parts[2] === 'fn' && parts[3]) {
        crumbs.append(h('span', { class: 'sep' }, '/'), h('a', { href: fnHref(parts[1], parts[3]) }, parts[3]));
      }
    }
  }
  const select = document.getElementById('region');
  fillRegions(select);
  // Signed out, the form has its own region selector.
  select.closest('label').hidden = !session;
  document.getElementById('who').textContent = session ? session.secretId : '';
  document.getElementById('signout').hidden = !session;
}

function fillRegions(select) {
  const list = REGIONS.includes(region) ? REGIONS : [region, ...REGIONS];
  select.replaceChildren(
    ...list.map((r) => h('option', { value: r, selected: r === region }, r)),
    h('option', { value: '' }, 'other…'),
  );
  select.value = region;
}

function onRegionChange(event) {
  let next = event.target.value;
  if (!next) next = (prompt('Region name (as configured in scfd):', region) || '').trim();
  if (next) region = next;
  if (session) session.region = region;
  saveSession();
  if (session) return route();
  // On the sign-in form: keep what was typed, just show the choice.
  for (const select of document.querySelectorAll('#region, #signin-region')) fillRegions(select);
}

// ---- sign-in ----------------------------------------------------------------------------

function renderSignIn() {
  const error = h('p', { class: 'error', role: 'alert', id: 'signin-error', hidden: true });
  const regionSelect = h('select', { name: 'region', id: 'signin-region', onchange: onRegionChange });
  fillRegions(regionSelect);
  const hashes = defaultHashes();
  const form = h(
    'form',
    { id: 'signin', class: 'card', autocomplete: 'on' },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' },
      'Use an account\u2019s SecretId and SecretKey. The key stays in this tab: the page signs every ',
      'API call itself (TC3-HMAC-SHA256) and forgets the key when the tab is closed.'),
    h('label', {}, 'SecretId', h('input', { name: 'secretId', id: 'secret-id', required: true, autocomplete: 'username', spellcheck: 'false' })),
    h('label', {}, 'SecretKey', h('input', { name: 'secretKey', id: 'secret-key', type: 'password', required: true, autocomplete: 'current-password' })),
    h('label', {}, 'Region', regionSelect),
    h('button', { type: 'submit' }, 'Sign in'),
    error,
    h('p', { class: 'muted small' },
      hashes.name === 'webcrypto'
        ? 'Signing with WebCrypto.'
        : 'Signing with the built-in JavaScript SHA-256 (WebCrypto needs https or localhost).'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const candidate = {
      secretId: String(data.get('secretId')).trim(),
      secretKey: String(data.get('secretKey')),
      region,
    };
    const button = form.querySelector('button');
    button.disabled = true;
    error.hidden = true;
    try {
      // Any signed call proves the key; this one is cheap and is the first page anyway.
      await call(candidate, 'ListNamespaces', { Limit: 1 });
      session = candidate;
      saveSession();
      route(); // the page the hash names (a link opened before signing in), else namespaces
    } catch (err) {
      error.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err);
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  view().replaceChildren(form);
  form.querySelector('input').focus();
}

function signOut() {
  session = null;
  saveSession();
  location.hash = '#/';
  route();
}

// ---- namespaces -------------------------------------------------------------------------

/** All pages of a list action, 100 at a time. */
async function listAll(action, params, key) {
  const out = [];
  for (let offset = 0; ; offset += 100) {
    const r = await api(action, { ...params, Offset: offset, Limit: 100 });
    const page = r[key] || [];
    out.push(...page);
    if (page.length < 100 || (r.TotalCount != null && out.length >= r.TotalCount)) return out;
  }
}

async function renderNamespaces(gen) {
  const section = h('section', {}, h('h1', {}, 'Namespaces'), h('p', { class: 'muted' }, 'Loading…'));
  view().replaceChildren(section);
  let namespaces;
  try {
    namespaces = await listAll('ListNamespaces', { Orderby: 'Name', Order: 'ASC' }, 'Namespaces');
  } catch (err) {
    if (gen === generation) section.replaceChildren(h('h1', {}, 'Namespaces'), errorBox(err));
    return;
  }
  if (gen !== generation) return;
  const rows = namespaces.map((ns) =>
    h('tr', {},
      h('td', {}, h('a', { href: nsHref(ns.Name) }, ns.Name)),
      h('td', {}, ns.Description || ''),
      h('td', {}, ns.Type || ''),
      h('td', { class: 'time' }, ns.AddTime || ''),
      h('td', { class: 'time' }, ns.ModTime || '')));
  section.replaceChildren(
    h('h1', {}, 'Namespaces'),
    h('p', { class: 'muted' }, `${plural(namespaces.length, 'namespace', 'No namespaces')} in ${region}`),
    table(['Name', 'Description', 'Type', 'Created', 'Modified'], rows, { id: 'namespaces' }),
  );
}

// ---- functions of a namespace -----------------------------------------------------------

/** Runs `fn` over `items`, at most `n` at a time. */
async function eachLimited(items, n, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

async function renderFunctions(gen, ns) {
  const title = h('h1', {}, 'Functions in ', h('code', {}, ns));
  const section = h('section', {}, title, h('p', { class: 'muted' }, 'Loading…'));
  view().replaceChildren(section);
  let functions;
  try {
    functions = await listAll('ListFunctions', { Namespace: ns, Orderby: 'FunctionName', Order: 'ASC' }, 'Functions');
  } catch (err) {
    if (gen === generation) section.replaceChildren(title, errorBox(err));
    return;
  }
  if (gen !== generation) return;
  const memoryCells = new Map();
  const rows = functions.map((f) => {
    const memory = h('td', { class: 'num' }, '…');
    memoryCells.set(f.FunctionName, memory);
    return h('tr', { 'data-function': f.FunctionName },
      h('td', {}, h('a', { href: fnHref(ns, f.FunctionName) }, f.FunctionName)),
      h('td', {}, f.Runtime || ''),
      h('td', {}, h('span', { class: `badge ${statusClass(f.Status)}` }, f.Status || '')),
      memory,
      h('td', { class: 'time' }, f.ModTime || ''),
      h('td', {}, f.Description || ''));
  });
  section.replaceChildren(
    title,
    h('p', { class: 'muted' }, plural(functions.length, 'function', 'No functions in this namespace.')),
    table(['Name', 'Runtime', 'Status', 'Memory', 'Modified', 'Description'], rows, { id: 'functions' }),
  );
  // ListFunctions' Function has no MemorySize: GetFunction has it, a few calls at a time.
  await eachLimited(functions, 4, async (f) => {
    if (gen !== generation) return;
    const cell = memoryCells.get(f.FunctionName);
    try {
      const d = await api('GetFunction', { FunctionName: f.FunctionName, Namespace: ns });
      cell.textContent = `${d.MemorySize} MB`;
    } catch (err) {
      cell.textContent = '?';
      cell.title = String(err);
    }
  });
}

function statusClass(status) {
  if (status === 'Active') return 'ok';
  if (/Failed$/.test(status || '')) return 'bad';
  return 'busy';
}

// ---- one function -----------------------------------------------------------------------

/** FunctionLog.RetCode: 0 success, 2 running, 3 interrupted, anything else a failure. */
function requestStatus(code) {
  if (code === 0) return ['success', 'ok'];
  if (code === 2) return ['running', 'busy'];
  if (code === 3) return ['interrupted', 'bad'];
  return [`failed (${code})`, 'bad'];
}

/** Cold when the instance was started for this request: its Report line has "Init Duration". */
function startKind(log) {
  const report = (log || '').split('\n').find((l) => l.startsWith('Report RequestId:'));
  if (!report) return '—';
  return report.includes('Init Duration') ? 'cold' : 'warm';
}

function configSummary(f) {
  const env = (f.Environment && f.Environment.Variables) || [];
  const items = [
    ['Runtime', f.Runtime],
    ['Handler', f.Handler],
    ['Memory', `${f.MemorySize} MB`],
    ['Timeout', `${f.Timeout} s`],
    ['Type', f.Type],
    ['Status', f.Status + (f.StatusDesc ? ` (${f.StatusDesc})` : '')],
    ['Version', f.FunctionVersion],
    ['Code size', f.CodeSize != null ? `${f.CodeSize} bytes` : ''],
    ['Environment', env.length ? env.map((v) => v.Key).join(', ') : 'none'],
    ['Description', f.Description || '—'],
    ['Created', f.AddTime],
    ['Modified', f.ModTime],
  ];
  return h('dl', { class: 'config', id: 'config' },
    items.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v == null ? '' : String(v))]));
}

async function renderFunction(gen, ns, name) {
  const title = h('h1', {}, h('code', {}, name), ' ', h('span', { class: 'muted small' }, `in ${ns}, ${region}`));
  const configSection = h('section', { class: 'card' }, h('h2', {}, 'Configuration'), h('p', { class: 'muted' }, 'Loading…'));
  const live = h('span', { class: 'live muted small', id: 'live' }, 'loading…');
  const requestsError = h('div', {});
  const charts = h('div', { class: 'charts', id: 'charts' });
  const tbody = h('tbody', {});
  const requests = h('table', { id: 'requests', class: 'clickable' },
    h('thead', {}, h('tr', {}, ['Request ID', 'Status', 'Start time', 'Duration', 'Memory', 'Retries', 'Start']
      .map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const logTitle = h('h2', {}, 'Log');
  const logMeta = h('p', { class: 'muted small' }, 'Click a request to see its log.');
  const logText = h('pre', { id: 'log', class: 'log', hidden: true });
  const logPanel = h('section', { class: 'card', id: 'log-panel' }, logTitle, logMeta, logText);
  const requestsSection = h('section', { class: 'card' },
    h('div', { class: 'row' }, h('h2', {}, 'Recent requests'), live),
    requestsError, charts, h('div', { class: 'scroll' }, requests));
  view().replaceChildren(title, configSection, requestsSection, logPanel);

  api('GetFunction', { FunctionName: name, Namespace: ns }).then(
    (f) => gen === generation && configSection.replaceChildren(h('h2', {}, 'Configuration'), configSummary(f)),
    (err) => gen === generation && configSection.replaceChildren(h('h2', {}, 'Configuration'), errorBox(err)),
  );

  /** RequestId -> { tr, key, data } of the rows on screen. */
  const rows = new Map();
  let selected = null;
  let chartKey = '';
  let first = true;

  const showLog = (id) => {
    const row = rows.get(id);
    if (!row) return;
    selected = id;
    for (const r of rows.values()) r.tr.classList.toggle('selected', r === row);
    const d = row.data;
    logTitle.textContent = 'Log';
    logMeta.replaceChildren(h('code', {}, d.RequestId), ` · ${d.StartTime} · `, requestStatus(d.RetCode)[0],
      d.RetMsg ? h('span', {}, ' · returned ', h('code', {}, d.RetMsg.length > 200 ? `${d.RetMsg.slice(0, 200)}…` : d.RetMsg)) : '');
    logText.textContent = d.Log || '(no log yet)';
    logText.hidden = false;
  };

  const cells = (d) => {
    const [status, cls] = requestStatus(d.RetCode);
    return [
      h('td', {}, h('code', {}, d.RequestId)),
      h('td', {}, h('span', { class: `badge ${cls}` }, status)),
      h('td', { class: 'time' }, d.StartTime),
      h('td', { class: 'num' }, d.RetCode === 2 ? '—' : ms(d.Duration)),
      h('td', { class: 'num' }, d.RetCode === 2 ? '—' : mb(d.MemUsage)),
      h('td', { class: 'num' }, String(d.RetryNum ?? 0)),
      h('td', {}, startKind(d.Log)),
    ];
  };

  const update = (data) => {
    const seen = new Set();
    const ordered = [];
    for (const d of data) {
      seen.add(d.RequestId);
      const key = JSON.stringify([d.RetCode, d.Duration, d.MemUsage, d.RetryNum, d.Log]);
      let row = rows.get(d.RequestId);
      if (!row) {
        const tr = h('tr', { 'data-request-id': d.RequestId, tabindex: 0, class: first ? '' : 'new' });
        tr.addEventListener('click', () => showLog(d.RequestId));
        tr.addEventListener('keydown', (e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), showLog(d.RequestId)));
        row = { tr, key: '' };
        rows.set(d.RequestId, row);
      }
      row.data = d;
      if (row.key !== key) {
        row.key = key;
        row.tr.replaceChildren(...cells(d));
        if (selected === d.RequestId) showLog(d.RequestId);
      }
      ordered.push(row.tr);
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.tr.remove();
        rows.delete(id);
      }
    }
    // Newest first, as the API sorted them; moving a row keeps its listeners and selection.
    ordered.forEach((tr, i) => {
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
    });
    if (!data.length) tbody.replaceChildren(h('tr', { class: 'empty' }, h('td', { colspan: 7, class: 'muted' }, 'No requests in the last 24 hours.')));
    else tbody.querySelector('tr.empty')?.remove();
    first = false;

    const key = JSON.stringify(data.map((d) => [d.RequestId, d.RetCode, d.Duration, d.MemUsage]));
    if (key !== chartKey) {
      chartKey = key;
      drawCharts(charts, data);
    }
  };

  const poll = async () => {
    if (gen !== generation) return;
    if (document.hidden && !first) {
      // A tab nobody looks at does not need its table refreshed; resume when it is shown.
      pollTimer = setTimeout(poll, POLL_MS);
      return;
    }
    try {
      const r = await api('GetFunctionLogs', {
        FunctionName: name,
        Namespace: ns,
        Limit: RECENT,
        Order: 'desc',
        OrderBy: 'start_time',
      });
      if (gen !== generation) return;
      requestsError.replaceChildren();
      update(r.Data || []);
      live.textContent = `live · ${r.TotalCount} in the last 24 h · updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      if (gen !== generation) return;
      requestsError.replaceChildren(errorBox(err));
      live.textContent = 'retrying…';
    }
    if (gen === generation) pollTimer = setTimeout(poll, POLL_MS);
  };
  poll();
}

/** Duration and memory of the listed requests, oldest to newest. */
function drawCharts(container, data) {
  // StartTime has whole seconds: requests of the same second are spread over it in the
  // order the API gave (by their exact start), so the lines keep their real sequence.
  const chrono = data.filter((d) => d.RetCode !== 2).slice().reverse();
  const perSecond = new Map();
  for (const d of chrono) perSecond.set(d.StartTime, (perSecond.get(d.StartTime) || 0) + 1);
  const seenInSecond = new Map();
  const points = chrono.map((d) => {
    const k = seenInSecond.get(d.StartTime) || 0;
    seenInSecond.set(d.StartTime, k + 1);
    return { t: parseTime(d.StartTime) + (k * 1000) / perSecond.get(d.StartTime), d };
  }).filter((p) => Number.isFinite(p.t));
  container.replaceChildren(
    h('figure', {},
      h('figcaption', {}, 'Duration (ms)'),
      lineChart(points.map(({ t, d }) => ({ t, v: d.Duration, label: d.RequestId })),
        { title: 'Duration of recent requests', className: 'duration', format: (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1)) })),
    h('figure', {},
      h('figcaption', {}, 'Memory (MB)'),
      lineChart(points.map(({ t, d }) => ({ t, v: d.MemUsage / (1024 * 1024), label: d.RequestId })),
        { title: 'Peak memory of recent requests', className: 'memory', format: (v) => v.toFixed(1) })),
  );
}

// ---- start ------------------------------------------------------------------------------

document.getElementById('region').addEventListener('change', onRegionChange);
document.getElementById('signout').addEventListener('click', signOut);
window.addEventListener('hashchange', route);
route();
