// Remux throughput: the same FLV through rtmpws's wasm remuxer (dist/wasm, as built by
// `npm run build`) and through flv.js 1.6's FLVDemuxer + MP4Remuxer (node_modules/flv.js/src),
// in one Node process and then in one headless Chromium page. Prints MB/s (FLV input bytes per
// second) and the ratio rtmpws / flv.js per feeding mode.
//
//   node bench/browser/remux.mjs [--runs 5] [--where both|node|chromium] [--smoke]
//
// The FLV is ffmpeg's testsrc2 at 1920x1080 30 fps, x264 6 Mbps, GOP 60, AAC, 60 s (--smoke:
// 320x180, 3 s, one run). It is kept in target/bench-browser/.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { args, benchFlv, launchChromium, machine, root, serveStatic, table } from './common.mjs';
import * as core from './remux-core.mjs';

const opts = args({ runs: 5, where: 'both', smoke: false, chunk: 65536, child: false });
const media = opts.smoke
  ? { width: 320, height: 180, seconds: 3, videoBitrate: '500k' }
  : { width: 1920, height: 1080, seconds: 60, videoBitrate: '6M' };
const runs = opts.smoke ? 1 : opts.runs;
const wasmJs = join(root, 'dist', 'wasm', 'rtmpws_wasm.js');
const wasmFile = join(root, 'dist', 'wasm', 'rtmpws_wasm_bg.wasm');
const flvjsSrc = join(root, 'node_modules', 'flv.js', 'src');

const file = benchFlv(media);
const bytes = new Uint8Array(readFileSync(file));
if (!opts.child) {
  console.log(`input: ${file} (${(bytes.length / 1e6).toFixed(1)} MB, ${media.width}x${media.height}, ${media.seconds} s)`);
  console.log(`machine: ${machine()}`);
}

const MODES = [
  ['per FLV tag (one WebSocket message each)', 'flvjs-tag', 'rtmpws-tag', 'flv.js parseChunks / rtmpws Player.pushFlv'],
  ['per RTMP message (rtmpws NetStream path)', 'flvjs-tag', 'rtmpws-msg', 'flv.js parseChunks per tag / rtmpws pushVideo|pushAudio'],
  [`${opts.chunk / 1024} KiB pieces of the file`, 'flvjs-64k', 'rtmpws-64k', 'flv.js parseChunks / rtmpws Player.pushFlv'],
];

function report(where, results) {
  const fmt = (r) => `${r.mbps.median.toFixed(1)} (${r.mbps.min.toFixed(1)}-${r.mbps.max.toFixed(1)})`;
  console.log(`\n${where}: MB/s of FLV input, median of ${runs} (min-max); output bytes counted`);
  table(
    ['feeding', 'flv.js 1.6 MB/s', 'rtmpws MB/s', 'rtmpws / flv.js', 'fMP4 out flv.js / rtmpws (MB)'],
    MODES.map(([label, flv, ours]) => [
      label,
      fmt(results[flv]),
      fmt(results[ours]),
      `${(results[ours].mbps.median / results[flv].mbps.median).toFixed(2)}x`,
      `${(results[flv].out / 1e6).toFixed(1)} / ${(results[ours].out / 1e6).toFixed(1)}`,
    ]),
  );
  for (const [key, r] of Object.entries(results)) {
    if (r.errors > 0) {
      console.log(`  note: ${key} reported ${r.errors} errors`);
    }
    if (r.out < bytes.length * 0.9) {
      throw new Error(`${key} produced only ${r.out} bytes from ${bytes.length}: not remuxing everything`);
    }
  }
}

async function inNode() {
  // flv.js's browser sniffing reads self.navigator; Node 20 has neither.
  globalThis.self ??= globalThis;
  if (!globalThis.navigator) {
    Object.defineProperty(globalThis, 'navigator', { value: { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0 Safari/537.36' }, configurable: true });
  }
  const url = (path) => pathToFileURL(join(flvjsSrc, path)).href;
  const { default: Log } = await import(url('utils/logger.js'));
  Log.ENABLE_ERROR = Log.ENABLE_INFO = Log.ENABLE_WARN = Log.ENABLE_DEBUG = Log.ENABLE_VERBOSE = false;
  const { default: FLVDemuxer } = await import(url('demux/flv-demuxer.js'));
  const { default: MP4Remuxer } = await import(url('remux/mp4-remuxer.js'));
  const { createDefaultConfig } = await import(url('config.js'));
  const wasm = await import(pathToFileURL(wasmJs).href);
  await wasm.default({ module_or_path: readFileSync(wasmFile) });
  const config = { ...createDefaultConfig(), isLive: true };
  const input = core.prepare(bytes, opts.chunk);
  return core.measure({ FLVDemuxer, MP4Remuxer, config, Player: wasm.Player }, input, runs);
}

/**
 * The Node run, in a child process: Node 20's V8 (11.3) now and then aborts in its deoptimizer
 * ("unreachable code") on code that inlines JS-to-wasm calls, a V8 bug that newer V8s (the
 * Chromium below) do not have. A crashed run is reported and retried.
 */
function nodeInChild() {
  const argv = [process.argv[1], '--child', '--where', 'node', '--runs', String(runs), '--chunk', String(opts.chunk), ...(opts.smoke ? ['--smoke'] : [])];
  for (let attempt = 1; attempt <= 3; attempt++) {
    const child = spawnSync(process.execPath, argv, { encoding: 'utf8', maxBuffer: 16 << 20 });
    const line = child.stdout.split('\n').find((l) => l.startsWith('RESULTS '));
    if (child.status === 0 && line) {
      report(`Node ${process.version}`, JSON.parse(line.slice('RESULTS '.length)));
      return;
    }
    console.log(`(Node run ${attempt} ended with ${child.signal ?? `exit ${child.status}`}: ${(child.stderr.match(/Fatal error[^\n]*\n[^\n]*\n[^\n]*/) ?? [child.stderr.slice(-300)])[0].replace(/\s+/g, ' ')}; retrying)`);
  }
  throw new Error('the Node run failed three times');
}

const EVENTS_SHIM = `export default class EventEmitter {
  constructor() { this.handlers = new Map(); }
  on(name, fn) { (this.handlers.get(name) ?? this.handlers.set(name, []).get(name)).push(fn); return this; }
  addListener(name, fn) { return this.on(name, fn); }
  removeListener(name, fn) { const l = this.handlers.get(name); if (l) { const i = l.indexOf(fn); if (i >= 0) l.splice(i, 1); } return this; }
  off(name, fn) { return this.removeListener(name, fn); }
  removeAllListeners(name) { if (name === undefined) this.handlers.clear(); else this.handlers.delete(name); return this; }
  listenerCount(name) { return this.handlers.get(name)?.length ?? 0; }
  emit(name, ...args) { const l = this.handlers.get(name); if (!l || l.length === 0) return false; for (const fn of [...l]) fn(...args); return true; }
}
`;

const PAGE = `<!doctype html><meta charset="utf-8"><title>remux bench</title>
<script type="importmap">{"imports": {"events": "/shim/events.js"}}</script>`;

async function inChromium() {
  const server = await serveStatic(
    { '/dist/': join(root, 'dist'), '/flvjs/': flvjsSrc, '/bench/': join(root, 'bench', 'browser') },
    { '/': ['text/html; charset=utf-8', PAGE], '/shim/events.js': ['text/javascript', EVENTS_SHIM], '/input.flv': ['video/x-flv', Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)] },
  );
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`pageerror: ${e.message}`));
    await page.goto(`${server.url}/`);
    const version = browser.browser()?.version() ?? '';
    const results = await page.evaluate(async ({ runs, chunk }) => {
      const { default: Log } = await import('/flvjs/utils/logger.js');
      Log.ENABLE_ERROR = Log.ENABLE_INFO = Log.ENABLE_WARN = Log.ENABLE_DEBUG = Log.ENABLE_VERBOSE = false;
      const { default: FLVDemuxer } = await import('/flvjs/demux/flv-demuxer.js');
      const { default: MP4Remuxer } = await import('/flvjs/remux/mp4-remuxer.js');
      const { createDefaultConfig } = await import('/flvjs/config.js');
      const wasm = await import('/dist/wasm/rtmpws_wasm.js');
      await wasm.default({ module_or_path: '/dist/wasm/rtmpws_wasm_bg.wasm' });
      const core = await import('/bench/remux-core.mjs');
      const bytes = new Uint8Array(await (await fetch('/input.flv')).arrayBuffer());
      const input = core.prepare(bytes, chunk);
      const config = { ...createDefaultConfig(), isLive: true };
      return core.measure({ FLVDemuxer, MP4Remuxer, config, Player: wasm.Player }, input, runs);
    }, { runs, chunk: opts.chunk });
    report(`Chromium ${version}`.trim(), results);
    return results;
  } finally {
    await browser.close();
    await server.close();
  }
}

if (opts.child) {
  console.log(`RESULTS ${JSON.stringify(await inNode())}`);
} else if (opts.where === 'both' || opts.where === 'node') {
  nodeInChild();
}
if (!opts.child && (opts.where === 'both' || opts.where === 'chromium')) {
  await inChromium();
}
