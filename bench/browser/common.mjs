// Shared by the browser-client benchmarks: arguments, tables, temp folders, media making,
// a static file server and Chromium. Processes are stopped by PID; temp folders are removed on
// exit.

import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const tempDirs = [];
function cleanup() {
  for (const dir of tempDirs.splice(0)) {
    rmSync(dir, { recursive: true, force: true });
  }
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    cleanup();
    process.exit(130);
  });
}

/** A fresh temp folder, removed when the process exits. */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), `rtmpws-bench-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

/** `--name value` / `--flag` arguments. */
export function args(defaults) {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      throw new Error(`unexpected argument ${arg}`);
    }
    const key = arg.slice(2);
    if (!(key in defaults)) {
      throw new Error(`unknown option ${arg}; options: ${Object.keys(defaults).map((k) => `--${k}`).join(' ')}`);
    }
    if (typeof defaults[key] === 'boolean') {
      out[key] = true;
    } else {
      const value = argv[++i];
      if (value === undefined) {
        throw new Error(`${arg} needs a value`);
      }
      out[key] = typeof defaults[key] === 'number' ? Number(value) : value;
    }
  }
  return out;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Prints a table: header row, then rows; numbers right-aligned. */
export function table(header, rows) {
  const cells = [header, ...rows].map((row) => row.map((c) => String(c)));
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  const line = (row) => `| ${row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  console.log(line(cells[0]));
  console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const row of cells.slice(1)) {
    console.log(line(row));
  }
}

export function machine() {
  const list = cpus();
  return `${list.length} x ${list[0]?.model ?? 'unknown CPU'}, Node ${process.version}`;
}

/** A free 127.0.0.1 port: bind port 0, read it, release it. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Stops a child by PID (SIGTERM, then SIGKILL after 5 s) and waits for it. */
export async function stopProcess(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  if ((await Promise.race([exited, sleep(5000).then(() => 'timeout')])) === 'timeout') {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  }
}

/** Runs ffmpeg to completion with `argv`; throws with its stderr on failure. */
export function ffmpeg(argv) {
  const result = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.status !== 0) {
    throw new Error(`ffmpeg ${argv.join(' ')} failed: ${result.stderr}`);
  }
}

/**
 * The benchmark FLV: testsrc2 H.264 (GOP 2 s) + AAC, made once and kept under
 * target/bench-browser/ (it takes about 40 s to encode the full-size one on two cores).
 */
export function benchFlv({ width, height, seconds, videoBitrate }) {
  const dir = join(root, 'target', 'bench-browser');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `testsrc2-${width}x${height}-${seconds}s-${videoBitrate}.flv`);
  if (!existsSync(file) || statSync(file).size === 0) {
    const partial = `${file}.part`;
    ffmpeg([
      '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=30`,
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', String(seconds),
      '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', videoBitrate, '-maxrate', videoBitrate, '-bufsize', '12M', '-g', '60', '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-b:a', '128k',
      '-f', 'flv', partial,
    ]);
    spawnSync('mv', [partial, file]);
  }
  return file;
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.flv': 'video/x-flv',
};

/**
 * A static HTTP server on 127.0.0.1: `mounts` maps URL prefixes to folders; `pages` maps paths
 * to [content type, body]. Resolves to {url, close}.
 */
export function serveStatic(mounts, pages = {}) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (pages[path]) {
      const [type, body] = pages[path];
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    for (const [prefix, folder] of Object.entries(mounts)) {
      if (path.startsWith(prefix)) {
        const file = normalize(join(folder, path.slice(prefix.length)));
        if (!file.startsWith(normalize(folder) + sep) || !existsSync(file) || !statSync(file).isFile()) {
          break;
        }
        res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream', 'content-length': statSync(file).size, 'cache-control': 'no-store' });
        createReadStream(file).pipe(res);
        return;
      }
    }
    res.writeHead(404);
    res.end();
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        close: () => new Promise((done) => {
          server.closeAllConnections?.();
          server.close(() => done());
        }),
      });
    });
  });
}

/** Debian's Chromium, headless, autoplay allowed, in a fresh profile. */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launchPersistentContext(tempDir('chromium'), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
    viewport: { width: 1280, height: 800 },
  });
}
