// Size of the browser client: every file a page loads to play (recorded from Chromium's network
// activity while a page imports the package and creates a NetConnection and a NetStream), each
// gzip -9 as a server would send it, against flv.js 1.6's flv.min.js gzip -9.
//
//   node bench/browser/size.mjs [--breakdown] [--smoke]
//
// Needs dist/ (npm run build). --breakdown also says what takes the space in the wasm: its
// sections, and (with twiggy installed: cargo install twiggy) the code by crate, from a build
// of the same module that keeps its name section.

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { args, launchChromium, machine, root, serveStatic, table, tempDir } from './common.mjs';

const opts = args({ breakdown: false, smoke: false });
const dist = join(root, 'dist');
if (!existsSync(join(dist, 'index.js'))) {
  throw new Error('dist/ is missing: run npm run build');
}

const gzip = (bytes) => gzipSync(bytes, { level: 9 }).length;
const brotli = (bytes) => brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;

/** The /pkg/ files a page requests when it imports the package and builds a player. */
async function loadedFiles() {
  const page = `<!doctype html><meta charset="utf-8"><video id="v" muted></video>
<script type="module">
  const { NetConnection, NetStream } = await import('/pkg/index.js');
  const nc = new NetConnection();
  nc.connect(null);
  const ns = new NetStream(nc);
  ns.attachMediaElement?.(document.getElementById('v'));
  window.ready = true;
</script>`;
  const server = await serveStatic({ '/pkg/': dist }, { '/': ['text/html; charset=utf-8', page] });
  const browser = await launchChromium();
  try {
    const tab = await browser.newPage();
    const seen = new Set();
    const errors = [];
    tab.on('response', (response) => {
      const path = new URL(response.url()).pathname;
      if (path.startsWith('/pkg/')) {
        seen.add(path.slice('/pkg/'.length));
      }
    });
    tab.on('pageerror', (error) => errors.push(error.message));
    await tab.goto(`${server.url}/`);
    await tab.waitForFunction(() => window.ready === true, null, { timeout: 15000 }).catch(() => {
      throw new Error(`the package did not load: ${errors.join('; ')}`);
    });
    return [...seen].sort();
  } finally {
    await browser.close();
    await server.close();
  }
}

console.log(`machine: ${machine()}`);
const files = await loadedFiles();
const rows = [];
let total = { raw: 0, gzip: 0, brotli: 0 };
for (const file of files) {
  const bytes = readFileSync(join(dist, file));
  const row = { raw: bytes.length, gzip: gzip(bytes), brotli: brotli(bytes) };
  rows.push([`dist/${file}`, row.raw, row.gzip, row.brotli]);
  total = { raw: total.raw + row.raw, gzip: total.gzip + row.gzip, brotli: total.brotli + row.brotli };
}
rows.push(['rtmpws total (RTMP + AMF + remux + API)', total.raw, total.gzip, total.brotli]);
const flv = readFileSync(join(root, 'node_modules', 'flv.js', 'dist', 'flv.min.js'));
const flvRow = { raw: flv.length, gzip: gzip(flv), brotli: brotli(flv) };
rows.push(['flv.js 1.6 dist/flv.min.js (FLV demux + remux + player)', flvRow.raw, flvRow.gzip, flvRow.brotli]);
rows.push(['rtmpws / flv.js', `${(total.raw / flvRow.raw).toFixed(2)}x`, `${(total.gzip / flvRow.gzip).toFixed(2)}x`, `${(total.brotli / flvRow.brotli).toFixed(2)}x`]);
console.log('\nwhat a page loads to play, bytes (gzip -9 and brotli -11 per file, as a server sends them)');
table(['file', 'raw', 'gzip -9', 'brotli -11'], rows);
console.log(`\nThe client a page loads is ${(total.gzip / 1000).toFixed(1)} KB gzip (wasm + JS); flv.min.js is ${(flvRow.gzip / 1000).toFixed(1)} KB.`);

if (opts.breakdown && !opts.smoke) {
  breakdown();
}

/** Sections of the shipped wasm, then its code by crate (twiggy, on a build with names). */
function breakdown() {
  const wasmFile = files.find((f) => f.endsWith('.wasm'));
  const bytes = readFileSync(join(dist, wasmFile));
  const names = { 1: 'type', 2: 'import', 3: 'function', 4: 'table', 5: 'memory', 6: 'global', 7: 'export', 9: 'element', 10: 'code', 11: 'data', 12: 'data count', 0: 'custom' };
  const sections = new Map();
  let pos = 8;
  const leb = () => {
    let result = 0;
    let shift = 0;
    let byte;
    do {
      byte = bytes[pos++];
      result += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return result;
  };
  while (pos < bytes.length) {
    const id = bytes[pos++];
    const size = leb();
    const name = names[id] ?? `id ${id}`;
    const body = bytes.subarray(pos, pos + size);
    const entry = sections.get(name) ?? { raw: 0, parts: [] };
    entry.raw += size;
    entry.parts.push(body);
    sections.set(name, entry);
    pos += size;
  }
  console.log(`\n${wasmFile} by section (gzip of the section alone)`);
  table(
    ['section', 'raw', 'gzip -9'],
    [...sections].sort((a, b) => b[1].raw - a[1].raw).map(([name, s]) => [name, s.raw, gzip(Buffer.concat(s.parts))]),
  );

  const twiggy = spawnSync('twiggy', ['--version']).status === 0 ? 'twiggy' : null;
  if (!twiggy) {
    console.log('\n(cargo install twiggy for the breakdown by crate)');
    return;
  }
  // The same module with its name section kept.
  const dir = tempDir('size');
  cpSync(join(dist, 'wasm'), dir, { recursive: true });
  const built = join(root, 'target', 'wasm32-unknown-unknown', 'wasm-release', 'rtmpws_wasm.wasm');
  execFileSync('wasm-bindgen', ['--target', 'web', '--out-dir', dir, built]);
  const named = join(dir, 'rtmpws_wasm_bg.wasm');
  const features = ['--enable-bulk-memory', '--enable-bulk-memory-opt', '--enable-nontrapping-float-to-int', '--enable-sign-ext', '--enable-mutable-globals', '--enable-reference-types', '--enable-multivalue'];
  execFileSync(join(root, 'node_modules', '.bin', 'wasm-opt'), ['-Oz', '-g', ...features, named, '-o', named]);
  const csv = execFileSync(twiggy, ['top', '-n', '100000', '-f', 'csv', named], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const byCrate = new Map();
  for (const line of csv.split('\n').slice(1)) {
    const match = /^"?(.*?)"?,(\d+),/.exec(line);
    if (!match) {
      continue;
    }
    const [, name, size] = match;
    if (name.includes('function names')) {
      continue;
    }
    let crate;
    if (name.startsWith('data segment')) {
      crate = 'data (strings, tables, panic locations)';
    } else if (/ (externref|multivalue) shim$/.test(name) || /^(connection|player)_/.test(name) || /^(statusInfo|netStreamCodes|allStatusCodes)$/.test(name)) {
      crate = 'exported functions (bodies inlined into them)';
    } else if (/fmt::|escape_debug|ToString|Formatter|pad_integral/.test(name)) {
      crate = 'formatting (core::fmt, Display and Debug impls)';
    } else {
      const crateMatch = /^<?&?(?:mut )?(?:dyn )?([a-z_][a-z0-9_]*)(?:\[[0-9a-f]+\])?::/.exec(name);
      crate = crateMatch ? crateMatch[1] : 'other (runtime, intrinsics, tables)';
    }
    byCrate.set(crate, (byCrate.get(crate) ?? 0) + Number(size));
  }
  console.log('\ncode and data by crate (twiggy shallow bytes, raw)');
  table(['crate', 'raw bytes'], [...byCrate].sort((a, b) => b[1] - a[1]).slice(0, 24).map(([crate, size]) => [crate, size]));
}
