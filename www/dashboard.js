// The rtmpws dashboard: polls the admin API every second and draws, per live stream, its
// bitrate in and out and its viewers over the last minutes (uPlot), and a table of clients
// with a kick button. The token is kept in sessionStorage. `window.dashboard` exposes the
// state for the browser tests.

import uPlot from './vendor/uplot/uPlot.esm.js';

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 1000;
/** Seconds of history each chart keeps. */
const WINDOW_SECS = 5 * 60;
const TOKEN_KEY = 'rtmpws-admin-token';

const dashboard = {
  /** The last answers of the API. */
  summary: null,
  streams: [],
  clients: [],
  /** Refreshes done, and the last error. */
  ticks: 0,
  error: null,
  /** 'app/name' -> { t: [], in: [], out: [], viewers: [] } (seconds, kbps, kbps, count). */
  history: new Map(),
  /** 'app/name' -> uPlot */
  charts: new Map(),
};
window.dashboard = dashboard;

$('token').value = sessionStorage.getItem(TOKEN_KEY) ?? '';
$('save').addEventListener('click', () => {
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
  refresh();
});

function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

async function api(path, method = 'GET') {
  const response = await fetch(`api/v1/${path}`, { method, headers: { Authorization: `Bearer ${token()}` }, cache: 'no-store' });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const why = response.status === 401 ? 'the token is not accepted' : response.status === 404 ? 'the admin API is off (no admin_token in the config) or the item is gone' : body.error ?? response.statusText;
    throw new Error(`${method} ${path}: ${response.status}, ${why}`);
  }
  return body;
}

function setStatus(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function duration(secs) {
  const s = Math.floor(secs);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

function codecs(stream) {
  const parts = [];
  const v = stream.video;
  if (v) {
    parts.push([v.codec, v.width && v.height ? `${v.width}x${v.height}` : null, v.profile, v.level && `L${v.level}`].filter(Boolean).join(' '));
  }
  const a = stream.audio;
  if (a) {
    parts.push([a.codec, a.profile, a.sample_rate && `${a.sample_rate} Hz`, a.channels && `${a.channels} ch`].filter(Boolean).join(' '));
  }
  return parts.join(' · ') || 'no sequence headers yet';
}

function record(stream, now) {
  const key = `${stream.app}/${stream.name}`;
  let h = dashboard.history.get(key);
  if (!h) {
    h = { t: [], in: [], out: [], viewers: [] };
    dashboard.history.set(key, h);
  }
  h.t.push(now);
  h.in.push(stream.kbps.in);
  h.out.push(stream.kbps.out);
  h.viewers.push(stream.viewers.total);
  while (h.t.length > 0 && h.t[0] < now - WINDOW_SECS) {
    for (const series of [h.t, h.in, h.out, h.viewers]) {
      series.shift();
    }
  }
  return key;
}

function card(key, stream) {
  let element = document.querySelector(`.stream[data-key="${CSS.escape(key)}"]`);
  if (!element) {
    element = document.createElement('section');
    element.className = 'stream';
    element.dataset.key = key;
    element.innerHTML = '<h3></h3><div class="facts"></div><div class="chart"></div>';
    $('streams').append(element);
    const width = Math.max(320, element.clientWidth - 24);
    const chart = new uPlot(
      {
        width,
        height: 200,
        series: [
          {},
          { label: 'kbps in', stroke: '#1f5fbf', width: 2, scale: 'kbps' },
          { label: 'kbps out', stroke: '#2e7d32', width: 2, scale: 'kbps' },
          { label: 'viewers', stroke: '#a15c00', width: 2, scale: 'viewers', paths: uPlot.paths.stepped({ align: 1 }) },
        ],
        axes: [{}, { scale: 'kbps', label: 'kbps' }, { scale: 'viewers', side: 1, label: 'viewers', grid: { show: false } }],
        scales: { x: { time: true }, viewers: { range: (u, min, max) => [0, Math.max(2, max + 1)] } },
      },
      [[], [], [], []],
      element.querySelector('.chart'),
    );
    dashboard.charts.set(key, chart);
  }
  element.querySelector('h3').textContent = key;
  const v = stream.viewers;
  const publisher = stream.publisher.address ? `${stream.publisher.address} (${stream.publisher.transport}, client ${stream.publisher.id})` : `client ${stream.publisher.id}`;
  element.querySelector('.facts').innerHTML = '';
  const lines = [
    `codecs: ${codecs(stream)}`,
    `publisher: ${publisher}, up ${duration(stream.uptime_secs)}`,
    `viewers: ${v.total} (tcp ${v.tcp}, ws ${v.ws}, rtmps ${v.rtmps}, wss ${v.wss}) · ${stream.kbps.in} kbps in, ${stream.kbps.out} kbps out`,
  ];
  for (const line of lines) {
    const div = document.createElement('div');
    div.textContent = line;
    element.querySelector('.facts').append(div);
  }
  if (stream.recording) {
    const rec = document.createElement('div');
    rec.className = 'rec';
    rec.textContent = '● recording';
    element.querySelector('.facts').append(rec);
  }
  return element;
}

function drawStreams(now) {
  const live = new Set();
  for (const stream of dashboard.streams) {
    const key = record(stream, now);
    live.add(key);
    card(key, stream);
    const h = dashboard.history.get(key);
    dashboard.charts.get(key).setData([h.t.slice(), h.in.slice(), h.out.slice(), h.viewers.slice()]);
  }
  for (const [key, chart] of dashboard.charts) {
    if (!live.has(key)) {
      chart.destroy();
      dashboard.charts.delete(key);
      dashboard.history.delete(key);
      document.querySelector(`.stream[data-key="${CSS.escape(key)}"]`)?.remove();
    }
  }
  const empty = $('streams').querySelector('p.muted');
  if (dashboard.streams.length === 0 && !empty) {
    $('streams').innerHTML = '<p class="muted">No live stream.</p>';
  } else if (dashboard.streams.length > 0 && empty) {
    empty.remove();
  }
  $('streamCount').textContent = `(${dashboard.streams.length})`;
}

function drawClients() {
  const body = $('clients');
  body.textContent = '';
  for (const c of dashboard.clients) {
    const tr = document.createElement('tr');
    tr.dataset.id = c.id;
    const cells = [
      [c.id, 'num'],
      [c.address],
      [c.transport],
      [c.app ?? '—'],
      [c.role],
      [c.streams.map((s) => `${s.name} (${s.kind})`).join(', ') || '—'],
      [bytes(c.bytes_in), 'num'],
      [bytes(c.bytes_out), 'num'],
      [`${c.kbps.in} / ${c.kbps.out}`, 'num'],
      [c.dropped, 'num'],
      [duration(c.connected_secs), 'num'],
    ];
    for (const [text, cls] of cells) {
      const td = document.createElement('td');
      td.textContent = String(text);
      if (cls) {
        td.className = cls;
      }
      tr.append(td);
    }
    const td = document.createElement('td');
    const kick = document.createElement('button');
    kick.className = 'kick';
    kick.textContent = 'Kick';
    kick.title = `Disconnect client ${c.id} (it is sent close; players report NetConnection.Connect.Closed)`;
    kick.addEventListener('click', async () => {
      try {
        await api(`clients/${c.id}`, 'DELETE');
        setStatus(`client ${c.id} kicked`);
      } catch (error) {
        setStatus(error.message, true);
      }
      refresh();
    });
    td.append(kick);
    tr.append(td);
    body.append(tr);
  }
  $('clientCount').textContent = `(${dashboard.clients.length})`;
}

function drawSummary() {
  const s = dashboard.summary;
  $('summary').textContent = `rtmpws-gateway ${s.version} · up ${duration(s.uptime_secs)} · ${s.connections.total} connections (tcp ${s.connections.tcp}, ws ${s.connections.ws}, rtmps ${s.connections.rtmps}, wss ${s.connections.wss}) · ${s.streams} streams · ${s.viewers} viewers · ${s.kbps.in} kbps in, ${s.kbps.out} kbps out · ${s.recordings} recording`;
}

let busy = false;
async function refresh() {
  if (busy || !token()) {
    return;
  }
  busy = true;
  try {
    const [summary, streams, clients] = await Promise.all([api('summary'), api('streams'), api('clients')]);
    dashboard.summary = summary;
    dashboard.streams = streams.streams;
    dashboard.clients = clients.clients;
    dashboard.ticks += 1;
    dashboard.error = null;
    drawSummary();
    drawStreams(Date.now() / 1000);
    drawClients();
    setStatus(`updated ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    dashboard.error = error.message;
    setStatus(error.message, true);
  } finally {
    busy = false;
  }
}

setInterval(refresh, REFRESH_MS);
refresh();
