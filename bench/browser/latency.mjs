// Start time and live latency in one headless Chromium, one ffmpeg publisher, two stacks:
//
//   rtmpws:  ffmpeg -> RTMP -> rtmpws-gateway -> RTMP over WebSocket -> wasm client -> MSE
//   flv.js:  ffmpeg -> RTMP -> node-media-server 4 -> WebSocket-FLV -> flv.js 1.6 -> MSE
//
//   node bench/browser/latency.mjs [--minutes 10] [--starts 5] [--smoke]
//
// One ffmpeg (`-re`, tee muxer) publishes the same clip (as long as the run) to both servers.
// Its video carries its
// own timestamp: every frame shows its frame number as a row of black/white cells (and the
// inverted row under it, to reject misreads), so a page can read which frame is on screen
// (drawImage of the <video> into a canvas) without trusting either player's clock mapping.
// ffmpeg's `-progress` reports (wall clock at arrival minus out_time) give the publisher's clock:
// frame time t was written at T0 + t, T0 being the smallest such difference seen. Latency is
// then Date.now() in the page minus (T0 + time of the frame on screen), for both stacks alike.
//
// Start: a fresh player per attempt, the stream already running (both servers have a GOP
// cache), time from the API call to the <video>'s first `playing` event; one untimed start of
// each stack first (the page's first media pipeline pays Chromium's cold start), then the
// stacks alternate. For rtmpws it is
// reported from ns.play() on a connected NetConnection and from nc.connect(); flv.js's load()
// opens its WebSocket, so connect-inclusive is the like-for-like figure.
// Latency: both players in one page (same renderer, same main thread), sampled every second.

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { args, ffmpeg, freePort, launchChromium, machine, root, serveStatic, sleep, stopProcess, table, tempDir } from './common.mjs';

const opts = args({ minutes: 10, starts: 5, smoke: false, width: 1280, height: 720, bitrate: '2M', gop: 60 });
const smoke = opts.smoke;
const minutes = smoke ? 0.15 : opts.minutes;
const starts = smoke ? 1 : opts.starts;
const [width, height] = smoke ? [640, 360] : [opts.width, opts.height];
const FPS = 30;
// Long enough for the whole run, so the frame number alone gives the publisher's time. (A
// looped clip does not: ffmpeg's -stream_loop offsets each loop by the longest stream, which
// the AAC frames make a few ms more than the video, and the latency seemed to grow.)
const CLIP_SECONDS = smoke ? 40 : Math.ceil(minutes * 60 + 60 + starts * 10);
const BITS = Math.ceil(Math.log2(CLIP_SECONDS * FPS + 1));
/** How long after a start its join latency is read. */
const JOIN_WAIT_MS = smoke ? 1500 : 3000;

const children = [];
process.on('exit', () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

function median(values) {
  if (values.length === 0) {
    return NaN;
  }
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};

/**
 * The clip: testsrc2 with the frame number as BITS cells (row 0) and their inverse (row 1),
 * made once and kept in target/bench-browser/.
 */
function makeClip() {
  const cell = Math.floor(width / BITS);
  const rowHeight = Math.max(24, Math.round(height / 18));
  const cache = join(root, 'target', 'bench-browser');
  mkdirSync(cache, { recursive: true });
  const file = join(cache, `framecode${BITS}-${width}x${height}-${CLIP_SECONDS}s-${opts.bitrate}-g${opts.gop}.flv`);
  if (existsSync(file)) {
    return { file, cell, rowHeight };
  }
  const bit = `mod(floor(N/pow(2,floor(X/${cell}))),2)`;
  const graph = [
    `color=c=black:s=${cell * BITS}x${rowHeight * 2}:r=${FPS},format=gray,geq=lum='if(lt(Y,${rowHeight}),255*${bit},255*(1-${bit}))'[code]`,
    `[0:v][code]overlay=0:0:shortest=1,format=yuv420p[v]`,
  ].join(';');
  ffmpeg([
    '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${FPS}`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-filter_complex', graph, '-map', '[v]', '-map', '1:a',
    '-t', String(CLIP_SECONDS),
    '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', opts.bitrate, '-maxrate', opts.bitrate, '-bufsize', opts.bitrate, '-g', String(opts.gop), '-keyint_min', String(opts.gop), '-sc_threshold', '0',
    '-c:a', 'aac', '-b:a', '128k',
    '-f', 'flv', `${file}.part`,
  ]);
  renameSync(`${file}.part`, file);
  return { file, cell, rowHeight };
}

async function waitForPort(port, child, what) {
  const { connect } = await import('node:net');
  const deadline = Date.now() + 20000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) {
      return;
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`${what} did not start on port ${port}`);
    }
    await sleep(100);
  }
}

function logTo(child, file) {
  const out = createWriteStream(file);
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
}

async function startGateway(dir) {
  const release = join(root, 'target', 'release', 'rtmpws-gateway');
  const debug = join(root, 'target', 'debug', 'rtmpws-gateway');
  // The newer build of the two: a stale release binary must not stand in for fresh code.
  const built = [release, debug].filter((path) => existsSync(path)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  const binary = process.env.RTMPWS_GATEWAY ?? built[0] ?? release;
  if (!existsSync(binary)) {
    throw new Error('no gateway binary: cargo build --release -p rtmpws-gateway');
  }
  mkdirSync(join(dir, 'gw-media'), { recursive: true });
  const config = join(dir, 'gateway.toml');
  // Port 0: the gateway writes the ports it bound to --addr-file.
  writeFileSync(config, ['rtmp_addr = "127.0.0.1:0"', 'http_addr = "127.0.0.1:0"', `media_dir = ${JSON.stringify(join(dir, 'gw-media'))}`, ''].join('\n'));
  const addrFile = join(dir, 'gateway-addresses');
  const child = spawn(binary, ['--config', config, '--addr-file', addrFile], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
  children.push(child);
  logTo(child, join(dir, 'gateway.log'));
  const deadline = Date.now() + 20000;
  while (!existsSync(addrFile)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`rtmpws-gateway did not start; see ${join(dir, 'gateway.log')}`);
    }
    await sleep(20);
  }
  const port = (key) => Number(readFileSync(addrFile, 'utf8').match(new RegExp(`^${key}=.*:(\\d+)$`, 'm'))[1]);
  const rtmpPort = port('rtmp');
  const httpPort = port('http');
  return { child, binary, rtmp: `rtmp://127.0.0.1:${rtmpPort}/live/bench`, ws: `ws://127.0.0.1:${httpPort}/live` };
}

async function startNodeMediaServer(dir) {
  const rtmpPort = await freePort();
  const httpPort = await freePort();
  const config = join(dir, 'nms.json');
  writeFileSync(
    config,
    JSON.stringify({
      bind: '127.0.0.1',
      notify: { url: '' },
      store: { path: join(dir, 'nms-data') },
      auth: { play: false, publish: false, secret: 'bench' },
      rtmp: { port: rtmpPort },
      http: { port: httpPort },
      webadmin: { enable: false },
      record: { auto: false, path: join(dir, 'nms-record') },
    }),
  );
  const app = join(root, 'node_modules', 'node-media-server', 'bin', 'app.js');
  const child = spawn(process.execPath, [app, '-c', config], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  logTo(child, join(dir, 'nms.log'));
  await waitForPort(httpPort, child, 'node-media-server');
  await waitForPort(rtmpPort, child, 'node-media-server');
  const version = JSON.parse(readFileSync(join(root, 'node_modules', 'node-media-server', 'package.json'), 'utf8')).version;
  return { child, version, rtmp: `rtmp://127.0.0.1:${rtmpPort}/live/bench`, ws: `ws://127.0.0.1:${httpPort}/live/bench.flv` };
}

/**
 * ffmpeg publishing the clip in a loop, in real time, to both servers at once. Resolves to
 * {child, t0()} where t0() is the wall-clock time (ms) at which stream time 0 was written.
 */
function startPublisher(clip, urls, dir) {
  const outputs = urls.map((url) => `[f=flv:flvflags=no_duration_filesize:onfail=ignore]${url}`).join('|');
  const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostats', '-re', '-stream_loop', '-1', '-i', clip, '-map', '0:v', '-map', '0:a', '-c', 'copy', '-flush_packets', '1', '-progress', 'pipe:1', '-stats_period', '0.1', '-f', 'tee', outputs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const stderr = [];
  child.stderr.on('data', (chunk) => stderr.push(chunk));
  let t0 = Infinity;
  let reports = 0;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const now = Date.now();
    const match = /^out_time_us=(\d+)/.exec(line);
    if (match) {
      reports++;
      t0 = Math.min(t0, now - Number(match[1]) / 1000);
    }
  });
  child.on('exit', (code) => {
    if (code !== 0 && code !== null && !child.stopping) {
      console.error(`ffmpeg exited with ${code}: ${Buffer.concat(stderr)}`);
    }
  });
  return { child, t0: () => t0, reports: () => reports, stderr };
}

// The page: both players, a frame-number reader, start-time probes.
const PAGE = `<!doctype html><meta charset="utf-8"><title>latency</title>
<script src="/flvjs/flv.min.js"></script>
<body style="margin:0;background:#000">
<script type="module">
const { NetConnection, NetStream } = await import('/pkg/index.js');
const log = [];
window.log = log;
flvjs.LoggingControl.enableAll = false;

function video() {
  const v = document.createElement('video');
  v.muted = true;
  v.autoplay = false;
  v.style.width = '320px';
  document.body.append(v);
  return v;
}

// The first appendBuffer after a start (starts are one at a time): splits the start time into
// the stack's part (call -> first append) and the browser's (first append -> playing).
let firstAppend = null;
const append = SourceBuffer.prototype.appendBuffer;
SourceBuffer.prototype.appendBuffer = function (data) {
  firstAppend ??= performance.now();
  return append.call(this, data);
};

function firstPlaying(v, t0) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no playing event within 20 s')), 20000);
    firstAppend = null;
    v.addEventListener('playing', () => {
      clearTimeout(timer);
      const now = performance.now();
      resolve({ total: now - t0, browser: firstAppend === null ? NaN : now - firstAppend });
    }, { once: true });
  });
}

window.startRtmpws = async (url) => {
  const v = video();
  const t0 = performance.now();
  const nc = new NetConnection();
  const connected = new Promise((resolve, reject) => {
    nc.addEventListener('netStatus', (e) => {
      if (e.info.code === 'NetConnection.Connect.Success') resolve();
      else if (e.info.level === 'error') reject(new Error(e.info.code));
    });
  });
  nc.connect(url);
  await connected;
  const ns = new NetStream(nc);
  ns.attachMediaElement(v);
  const tPlay = performance.now();
  const playing = firstPlaying(v, tPlay);
  ns.play('bench');
  const { total: fromPlay, browser } = await playing;
  return { id: register(v, () => { ns.close(); nc.close(); }), fromPlay, fromConnect: tPlay - t0 + fromPlay, browser };
};

window.startFlvjs = async (url) => {
  const v = video();
  const player = flvjs.createPlayer({ type: 'flv', isLive: true, hasAudio: true, hasVideo: true, url }, {
    enableWorker: false, enableStashBuffer: false, stashInitialSize: 128, lazyLoad: false, autoCleanupSourceBuffer: true,
  });
  player.attachMediaElement(v);
  const t0 = performance.now();
  const playing = firstPlaying(v, t0);
  player.load();
  const started = player.play();
  if (started && started.catch) started.catch(() => {});
  const { total: fromPlay, browser } = await playing;
  return { id: register(v, () => { player.pause(); player.unload(); player.detachMediaElement(); player.destroy(); }), fromPlay, fromConnect: fromPlay, browser };
};

const players = new Map();
let nextId = 1;
function register(v, stop) {
  const id = nextId++;
  players.set(id, { v, stop });
  return id;
}
window.stopPlayer = (id) => {
  const p = players.get(id);
  if (!p) return;
  p.stop();
  p.v.remove();
  players.delete(id);
};

// Reads the frame number drawn in the top rows of the picture on screen.
const canvas = document.createElement('canvas');
const ctx = canvas.getContext('2d', { willReadFrequently: true });
window.readFrame = (id, cell, rowHeight, bits) => {
  const p = players.get(id);
  if (!p) return { error: 'no player' };
  const v = p.v;
  const now = Date.now();
  if (v.readyState < 2 || v.videoWidth === 0) return { now, error: 'no picture' };
  canvas.width = cell * bits;
  canvas.height = rowHeight * 2;
  ctx.drawImage(v, 0, 0, cell * bits, rowHeight * 2, 0, 0, cell * bits, rowHeight * 2);
  const { data } = ctx.getImageData(0, 0, cell * bits, rowHeight * 2);
  const luma = (x, y) => { const i = (y * cell * bits + x) * 4; return 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2]; };
  let n = 0;
  for (let b = 0; b < bits; b++) {
    const x = b * cell + (cell >> 1);
    const top = luma(x, rowHeight >> 1);
    const bottom = luma(x, rowHeight + (rowHeight >> 1));
    if (Math.abs(top - bottom) < 64) return { now, error: 'unreadable' };
    if (top > bottom) n |= 1 << b;
  }
  const q = v.getVideoPlaybackQuality?.();
  return { now, frame: n, currentTime: v.currentTime, buffered: v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : 0, dropped: q?.droppedVideoFrames ?? 0, total: q?.totalVideoFrames ?? 0, paused: v.paused };
};
window.ready = true;
</script>`;

async function main() {
  const dir = tempDir('latency');
  console.log(`machine: ${machine()}; load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const clip = makeClip();
  const gateway = await startGateway(dir);
  const nms = await startNodeMediaServer(dir);
  console.log(`rtmpws-gateway: ${gateway.binary}; node-media-server ${nms.version}; flv.js 1.6 (dist/flv.min.js); clip ${width}x${height} ${FPS} fps ${opts.bitrate} GOP ${opts.gop / FPS} s, ${CLIP_SECONDS} s`);
  const publisher = startPublisher(clip.file, [gateway.rtmp, nms.rtmp], dir);
  const server = await serveStatic({ '/pkg/': join(root, 'dist'), '/flvjs/': join(root, 'node_modules', 'flv.js', 'dist') }, { '/': ['text/html; charset=utf-8', PAGE] });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const pageErrors = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => window.ready === true, null, { timeout: 20000 });
    // Let both GOP caches fill, as for a viewer joining a running stream.
    await sleep(smoke ? 3000 : 5000);

    /** Latency (s) of the frame on screen in player `id`, or null if unreadable. */
    const latencyOf = async (id) => {
      const r = await page.evaluate(({ id, cell, rowHeight, bits }) => window.readFrame(id, cell, rowHeight, bits), { id, cell: clip.cell, rowHeight: clip.rowHeight, bits: BITS });
      if (r.error) {
        return { error: r.error };
      }
      // Unwrap the looped clip: the newest copy of this frame not later than now.
      const elapsed = (r.now - publisher.t0()) / 1000;
      const inClip = r.frame / FPS;
      const loops = Math.floor((elapsed + 0.5 - inClip) / CLIP_SECONDS);
      return { ...r, latency: elapsed - (loops * CLIP_SECONDS + inClip) };
    };

    // Start time: alternate the stacks, one fresh player at a time; each player's latency
    // 3 s after it started shows where in the GOP it joined (flv.js never catches up).
    const startTimes = { rtmpws: [], rtmpwsConnect: [], flvjs: [], rtmpwsJoin: [], flvjsJoin: [], rtmpwsBrowser: [], flvjsBrowser: [] };
    const startOurs = async (record) => {
      const ours = await page.evaluate((url) => window.startRtmpws(url), gateway.ws);
      await sleep(JOIN_WAIT_MS);
      const join = await latencyOf(ours.id);
      await page.evaluate((id) => window.stopPlayer(id), ours.id);
      if (record) {
        startTimes.rtmpws.push(ours.fromPlay);
        startTimes.rtmpwsConnect.push(ours.fromConnect);
        startTimes.rtmpwsBrowser.push(ours.browser);
        if (join.latency !== undefined) {
          startTimes.rtmpwsJoin.push(join.latency);
        }
      }
      await sleep(500);
    };
    const startTheirs = async (record) => {
      const theirs = await page.evaluate((url) => window.startFlvjs(url), nms.ws);
      await sleep(JOIN_WAIT_MS);
      const join = await latencyOf(theirs.id);
      await page.evaluate((id) => window.stopPlayer(id), theirs.id);
      if (record) {
        startTimes.flvjs.push(theirs.fromPlay);
        startTimes.flvjsBrowser.push(theirs.browser);
        if (join.latency !== undefined) {
          startTimes.flvjsJoin.push(join.latency);
        }
      }
      await sleep(500);
    };
    // One untimed start each first: the page's first media pipeline pays Chromium's cold start.
    await startTheirs(false);
    await startOurs(false);
    for (let i = 0; i < starts; i++) {
      // Alternate who goes first.
      if (i % 2 === 0) {
        await startOurs(true);
        await startTheirs(true);
      } else {
        await startTheirs(true);
        await startOurs(true);
      }
    }

    // Latency: both playing in the same page for `minutes`.
    const ours = await page.evaluate((url) => window.startRtmpws(url), gateway.ws);
    const theirs = await page.evaluate((url) => window.startFlvjs(url), nms.ws);
    const stacks = [
      { name: 'rtmpws', id: ours.id, samples: [], errors: 0 },
      { name: 'flv.js', id: theirs.id, samples: [], errors: 0 },
    ];
    const begin = Date.now();
    const end = begin + minutes * 60000;
    let nextReport = begin + 60000;
    while (Date.now() < end) {
      const tick = Date.now();
      for (const stack of stacks) {
        const r = await latencyOf(stack.id);
        if (r.error) {
          stack.errors++;
          continue;
        }
        stack.samples.push({ at: (r.now - begin) / 1000, latency: r.latency, buffered: r.buffered, dropped: r.dropped, total: r.total, paused: r.paused });
      }
      if (Date.now() >= nextReport) {
        nextReport += 60000;
        const last = (s) => s.samples.filter((x) => x.at > (Date.now() - begin) / 1000 - 60).map((x) => x.latency);
        console.log(`  minute ${Math.round((Date.now() - begin) / 60000)}: median latency rtmpws ${median(last(stacks[0])).toFixed(3)} s, flv.js ${median(last(stacks[1])).toFixed(3)} s`);
      }
      await sleep(Math.max(0, 1000 - (Date.now() - tick)));
    }
    console.log(`load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')} (2 cores shared with other work)`);
    if (pageErrors.length > 0) {
      console.log(`page errors: ${pageErrors.join('; ')}`);
    }
    if (process.env.LATENCY_SAMPLES) {
      for (const stack of stacks) {
        console.log(`${stack.name}: ${stack.samples.map((s) => `${s.latency.toFixed(2)}/${s.buffered.toFixed(2)}`).join(" ")}`);
      }
    }
    report(startTimes, stacks, publisher);
  } finally {
    await browser.close();
    await server.close();
    publisher.child.stopping = true;
    await stopProcess(publisher.child);
    await stopProcess(gateway.child);
    await stopProcess(nms.child);
  }
}

function report(startTimes, stacks, publisher) {
  const fmtMs = (values) => `${median(values).toFixed(0)} (${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)})`;
  console.log(`\nstart: ms from the call to the first 'playing', median of ${startTimes.flvjs.length} (min-max); stream running, GOP caches full`);
  const flvStart = median(startTimes.flvjs);
  table(
    ['stack', 'start ms', 'vs flv.js'],
    [
      ['rtmpws, from nc.connect() (WebSocket + RTMP connect + play)', fmtMs(startTimes.rtmpwsConnect), `${(median(startTimes.rtmpwsConnect) / flvStart).toFixed(2)}x`],
      ['rtmpws, from ns.play() (connected NetConnection)', fmtMs(startTimes.rtmpws), `${(median(startTimes.rtmpws) / flvStart).toFixed(2)}x`],
      ['flv.js 1.6 + node-media-server, from load()+play()', fmtMs(startTimes.flvjs), '1.00x'],
    ],
  );
  const fmtS = (values) => (values.length ? `${median(values).toFixed(2)} (${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)})` : '-');
  console.log(`of which the browser's media pipeline (first appendBuffer -> playing), ms, median (min-max): rtmpws ${fmtMs(startTimes.rtmpwsBrowser)}, flv.js ${fmtMs(startTimes.flvjsBrowser)}`);
  console.log(`latency ${JOIN_WAIT_MS / 1000} s after each start, s, median (min-max): rtmpws ${fmtS(startTimes.rtmpwsJoin)}, flv.js ${fmtS(startTimes.flvjsJoin)}`);

  console.log(`\nlive latency: now minus the publisher's wall-clock time of the frame on screen, one sample per second per stack over ${minutes} min (publisher clock from ${publisher.reports()} ffmpeg progress reports)`);
  const rows = [];
  const stats = {};
  for (const stack of stacks) {
    const all = stack.samples.map((s) => s.latency);
    const span = Math.min(1, minutes);
    const first = stack.samples.filter((s) => s.at < span * 60).map((s) => s.latency);
    const lastStart = (stack.samples.at(-1)?.at ?? 0) - span * 60;
    const last = stack.samples.filter((s) => s.at >= lastStart).map((s) => s.latency);
    const growth = median(last) - median(first);
    const lastSample = stack.samples.at(-1);
    stats[stack.name] = { median: median(all), growth };
    rows.push([
      stack.name,
      all.length,
      median(all).toFixed(3),
      quantile(all, 0.95).toFixed(3),
      Math.max(...all).toFixed(3),
      median(first).toFixed(3),
      median(last).toFixed(3),
      `${(growth * 1000).toFixed(0)} ms`,
      stack.errors,
      lastSample ? `${lastSample.dropped}/${lastSample.total}` : '-',
    ]);
  }
  table(['stack', 'samples', 'median s', 'p95 s', 'max s', `first ${Math.min(1, minutes) * 60} s median`, `last ${Math.min(1, minutes) * 60} s median`, 'growth', 'unreadable', 'dropped/frames'], rows);
  console.log(`\nratios rtmpws / flv.js: start (connect-inclusive) ${(median(startTimes.rtmpwsConnect) / flvStart).toFixed(2)}x, start (from play) ${(median(startTimes.rtmpws) / flvStart).toFixed(2)}x, median latency ${(stats.rtmpws.median / stats['flv.js'].median).toFixed(2)}x`);
}

await main();
