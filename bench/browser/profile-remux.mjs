// Profiles one remux mode in headless Chromium with the DevTools protocol's sampling profiler and
// prints the functions with the most self time (wasm functions by name when the module has a
// name section: build one with `node bench/browser/profile-remux.mjs --names`).
//
//   node bench/browser/profile-remux.mjs [--mode rtmpws-tag|rtmpws-msg|rtmpws-64k|flvjs-tag|flvjs-64k] [--runs 10]

import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { args, benchFlv, launchChromium, root, serveStatic, tempDir } from './common.mjs';

const opts = args({ mode: 'rtmpws-tag', runs: 10, names: false, out: '' });
const file = benchFlv({ width: 1920, height: 1080, seconds: 60, videoBitrate: '6M' });
let dist = join(root, 'dist');
if (opts.names) {
  // The same module with its name section kept, so the profile names wasm functions.
  dist = tempDir('profile-dist');
  cpSync(join(root, 'dist'), dist, { recursive: true });
  const wasm = join(root, 'target', 'wasm32-unknown-unknown', 'wasm-release', 'rtmpws_wasm.wasm');
  execFileSync('wasm-bindgen', ['--target', 'web', '--out-dir', join(dist, 'wasm'), wasm]);
  const features = ['--enable-bulk-memory', '--enable-bulk-memory-opt', '--enable-nontrapping-float-to-int', '--enable-sign-ext', '--enable-mutable-globals', '--enable-reference-types', '--enable-multivalue'];
  const out = join(dist, 'wasm', 'rtmpws_wasm_bg.wasm');
  execFileSync(join(root, 'node_modules', '.bin', 'wasm-opt'), ['-Oz', '-g', ...features, out, '-o', out]);
}
const EVENTS_SHIM = 'export default class EventEmitter { on() { return this; } addListener() { return this; } removeListener() { return this; } removeAllListeners() { return this; } listenerCount() { return 0; } emit() { return false; } }';
const server = await serveStatic(
  { '/dist/': dist, '/flvjs/': join(root, 'node_modules', 'flv.js', 'src'), '/bench/': join(root, 'bench', 'browser') },
  {
    '/': ['text/html', '<!doctype html><script type="importmap">{"imports": {"events": "/shim/events.js"}}</script>'],
    '/shim/events.js': ['text/javascript', EVENTS_SHIM],
    '/input.flv': ['video/x-flv', readFileSync(file)],
  },
);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}/`);
  await page.evaluate(async () => {
    const { default: Log } = await import('/flvjs/utils/logger.js');
    Log.ENABLE_ERROR = Log.ENABLE_INFO = Log.ENABLE_WARN = Log.ENABLE_DEBUG = Log.ENABLE_VERBOSE = false;
    const { default: FLVDemuxer } = await import('/flvjs/demux/flv-demuxer.js');
    const { default: MP4Remuxer } = await import('/flvjs/remux/mp4-remuxer.js');
    const { createDefaultConfig } = await import('/flvjs/config.js');
    const wasm = await import('/dist/wasm/rtmpws_wasm.js');
    await wasm.default({ module_or_path: '/dist/wasm/rtmpws_wasm_bg.wasm' });
    const core = await import('/bench/remux-core.mjs');
    const bytes = new Uint8Array(await (await fetch('/input.flv')).arrayBuffer());
    window.bench = { core, input: core.prepare(bytes), libs: { FLVDemuxer, MP4Remuxer, Player: wasm.Player, config: { ...createDefaultConfig(), isLive: true } } };
  });
  const run = (mode, runs) => page.evaluate(({ mode, runs }) => {
    const { core, input, libs } = window.bench;
    const fn = {
      'rtmpws-tag': () => core.runRtmpwsFlv(libs, input.perTag),
      'rtmpws-msg': () => core.runRtmpwsMessages(libs, input.messages),
      'rtmpws-64k': () => core.runRtmpwsFlv(libs, input.chunks),
      'flvjs-tag': () => core.runFlvjs(libs, input.perTag),
      'flvjs-64k': () => core.runFlvjs(libs, input.chunks),
    }[mode];
    const times = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      fn();
      times.push(performance.now() - t);
    }
    return times;
  }, { mode, runs });
  await run(opts.mode, 2);
  const cdp = await browser.newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
  await cdp.send('Profiler.start');
  const times = await run(opts.mode, opts.runs);
  const { profile } = await cdp.send('Profiler.stop');
  console.log(`${opts.mode}: ${times.map((t) => t.toFixed(1)).join(' ')} ms`);
  if (opts.out) {
    writeFileSync(opts.out, JSON.stringify(profile));
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const n = byId.get(id);
    const key = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').pop()}`;
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
    console.log(`${(us / 1000).toFixed(1).padStart(8)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${key}`);
  }
} finally {
  await browser.close();
  await server.close();
}
