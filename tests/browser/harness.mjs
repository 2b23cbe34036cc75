// Shared by the browser tests: the real gateway binary on free loopback ports, ffmpeg as media
// maker and publisher, and Debian's Chromium driven by playwright-core. Every process is
// stopped by its PID.

import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where screenshots and logs that outlive the temp dirs go. */
export const artifacts = join(root, 'target', 'browser-tests');
mkdirSync(artifacts, { recursive: true });

const tempDirs = [];
process.on('exit', () => {
  // Clips, gateway configs and browser profiles; RTMPWS_KEEP_TEMP=1 keeps them for a look.
  if (!process.env.RTMPWS_KEEP_TEMP) {
    for (const dir of tempDirs) {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

/** A fresh temp folder, removed when the test process exits. */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), `rtmpws-browser-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

/** A free 127.0.0.1 port: bind port 0, read it, release it. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Stops a child by PID (SIGTERM, then SIGKILL) and waits for it. */
export async function stopProcess(child, signal = 'SIGTERM') {
  if (!child || child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(child.pid, signal);
  } catch {
    return;
  }
  const timeout = sleep(5000).then(() => 'timeout');
  if ((await Promise.race([exited, timeout])) === 'timeout') {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  }
}

/**
 * Starts the gateway (RTMPWS_GATEWAY or target/debug/rtmpws-gateway) with a temp config that
 * serves `wwwDir` (default: the demo page) at / and dist/ at /pkg/; `extraConfig` is TOML
 * appended to it (a [tls] table, say).
 */
export async function startGateway({ wwwDir = join(root, 'www'), extraConfig = '' } = {}) {
  const binary = process.env.RTMPWS_GATEWAY ?? join(root, 'target', 'debug', 'rtmpws-gateway');
  if (!existsSync(binary)) {
    throw new Error(`${binary} is missing: run cargo build -p rtmpws-gateway`);
  }
  // RTMPWS_DIST: a built package elsewhere (a snapshot of dist/ that a concurrent build cannot
  // remove mid-run).
  const dist = process.env.RTMPWS_DIST ?? join(root, 'dist');
  if (!existsSync(join(dist, 'index.js'))) {
    throw new Error(`${dist} is missing: run npm run build`);
  }
  const dir = tempDir('gateway');
  mkdirSync(join(dir, 'media'), { recursive: true });
  const config = join(dir, 'gateway.toml');
  writeFileSync(
    config,
    [
      // Port 0: the gateway reports the ports it bound in --addr-file, so no other process can
      // take them between our choice and its bind.
      'rtmp_addr = "127.0.0.1:0"',
      'http_addr = "127.0.0.1:0"',
      `media_dir = ${JSON.stringify(join(dir, 'media'))}`,
      `www_dir = ${JSON.stringify(wwwDir)}`,
      `package_dir = ${JSON.stringify(dist)}`,
      extraConfig,
      '',
    ].join('\n'),
  );
  const logFile = join(dir, 'gateway.log');
  const log = createWriteStream(logFile);
  const addrFile = join(dir, 'addresses');
  const child = spawn(binary, ['--config', config, '--addr-file', addrFile], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' } });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const deadline = Date.now() + 15000;
  while (!existsSync(addrFile)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`gateway did not start; see ${logFile}`);
    }
    await sleep(20);
  }
  const addresses = Object.fromEntries(
    readFileSync(addrFile, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split('=')),
  );
  const rtmpPort = Number(addresses.rtmp.split(':').pop());
  const httpPort = Number(addresses.http.split(':').pop());
  // Only with a [tls] table: https_addr and rtmps_addr.
  const httpsPort = addresses.https && Number(addresses.https.split(':').pop());
  const rtmpsPort = addresses.rtmps && Number(addresses.rtmps.split(':').pop());
  return {
    child,
    dir,
    logFile,
    rtmpPort,
    httpPort,
    http: `http://127.0.0.1:${httpPort}`,
    ws: `ws://127.0.0.1:${httpPort}`,
    rtmp: `rtmp://127.0.0.1:${rtmpPort}`,
    ...(httpsPort && { httpsPort, https: `https://127.0.0.1:${httpsPort}`, wss: `wss://127.0.0.1:${httpsPort}` }),
    ...(rtmpsPort && { rtmpsPort, rtmps: `rtmps://127.0.0.1:${rtmpsPort}` }),
    stop: () => stopProcess(child),
  };
}

/** A self-signed certificate for 127.0.0.1 (an EC key), made by openssl in `dir`. */
export function selfSignedCertificate(dir) {
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  const result = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.status !== 0) {
    throw new Error(`openssl could not make a certificate: ${result.stderr}`);
  }
  return { cert, key };
}

/** The test clip: 640x360 30 fps H.264 (GOP 30) + 440 Hz AAC, `seconds` long. */
export function makeClip(dir, seconds = 20) {
  const out = join(dir, 'in.flv');
  const result = spawnSync(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440', '-t', String(seconds), '-c:v', 'libx264', '-g', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-f', 'flv', out],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  if (result.status !== 0) {
    throw new Error(`ffmpeg could not make the clip: ${result.stderr}`);
  }
  return out;
}

/** Publishes `file` in real time (`-re`) to rtmp://.../live/NAME; resolves to the child. */
export function publish(file, url, { stdio = 'ignore' } = {}) {
  const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-i', file, '-c', 'copy', '-f', 'flv', url], { stdio: ['ignore', stdio, stdio] });
  child.startedAt = Date.now();
  return child;
}

export function waitForExit(child, timeoutMs) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve(child.exitCode);
  }
  return Promise.race([
    new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    sleep(timeoutMs).then(() => {
      throw new Error(`process ${child.pid} still running after ${timeoutMs} ms`);
    }),
  ]);
}

/** Debian's Chromium, headless, with autoplay allowed; never a downloaded browser. */
export async function launchBrowser({ ignoreHTTPSErrors = false } = {}) {
  const userDataDir = tempDir('chromium');
  const context = await chromium.launchPersistentContext(userDataDir, {
    ignoreHTTPSErrors,
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
    viewport: { width: 1280, height: 900 },
  });
  return context;
}

/** Opens the demo page with query parameters and waits until its module has loaded. */
export async function openDemo(context, gateway, params = {}) {
  const page = await context.newPage();
  const messages = [];
  page.on('console', (message) => messages.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => messages.push(`pageerror: ${error.message}`));
  page.messages = messages;
  const query = new URLSearchParams(params).toString();
  await page.goto(`${gateway.http}/${query ? `?${query}` : ''}`);
  await page.waitForFunction(() => window.demo !== undefined, null, { timeout: 15000 });
  return page;
}

/** The codes of the netStatus events logged so far on the demo page. */
export function codes(page) {
  return page.evaluate(() => window.demo.log.map((entry) => entry.info?.code).filter(Boolean));
}

/** Waits until the demo log has `code`; returns the log entry. */
export async function waitForCode(page, code, timeoutMs = 15000) {
  try {
    await page.waitForFunction((c) => window.demo.log.some((entry) => entry.info?.code === c), code, { timeout: timeoutMs, polling: 50 });
  } catch (error) {
    throw new Error(`no ${code} within ${timeoutMs} ms; saw ${JSON.stringify(await codes(page))}\n${page.messages.join('\n')}`);
  }
  return page.evaluate((c) => window.demo.log.find((entry) => entry.info?.code === c), code);
}

/**
 * FFmpeg 9 (Enhanced RTMP: AV1, VP9, HEVC, Opus), which Debian's ffmpeg 5.1 is not:
 * RTMPWS_FFMPEG9, or the static binary `scripts/setup.sh test` installs under .cache/ffmpeg9.
 * Throws with how to get it when it is missing (the tests that need it fail, not skip).
 */
export function ffmpeg9() {
  const path = process.env.RTMPWS_FFMPEG9 ?? join(root, '.cache', 'ffmpeg9', 'imageio_ffmpeg', 'binaries', 'ffmpeg-linux-x86_64-v9.0.2');
  if (!existsSync(path)) {
    throw new Error(`FFmpeg 9 not found at ${path}: run \`bash scripts/setup.sh test\` (it installs imageio-ffmpeg 0.8.1 into .cache/ffmpeg9) or set RTMPWS_FFMPEG9`);
  }
  return path;
}

/**
 * A small enhanced-FLV clip made by FFmpeg 9: testsrc2 320x180 at 30 fps (keyframe every
 * second) in `video` ('av1', 'vp9', 'hevc') with a 440 Hz tone in Opus, `seconds` long.
 */
export function makeEnhancedClip(dir, video, seconds = 8) {
  const encoders = {
    av1: ['-c:v', 'libsvtav1', '-preset', '12', '-svtav1-params', 'keyint=30'],
    vp9: ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '300k', '-g', '30'],
    hevc: ['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'keyint=30:min-keyint=30:log-level=error'],
  };
  const out = join(dir, `${video}-opus.flv`);
  const result = spawnSync(
    ffmpeg9(),
    ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', String(seconds), ...encoders[video], '-pix_fmt', 'yuv420p', '-c:a', 'libopus', '-b:a', '64k', '-f', 'flv', out],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  if (result.status !== 0) {
    throw new Error(`FFmpeg 9 could not make the ${video} clip: ${result.stderr}`);
  }
  return out;
}

/** Publishes `file` in real time with FFmpeg 9 (enhanced tags kept as they are). */
export function publish9(file, url, { stdio = 'ignore', loop = false } = {}) {
  const args = ['-hide_banner', '-loglevel', 'error', '-re', ...(loop ? ['-stream_loop', '-1'] : []), '-i', file, '-c', 'copy', '-f', 'flv', url];
  const child = spawn(ffmpeg9(), args, { stdio: ['ignore', stdio, stdio] });
  child.startedAt = Date.now();
  return child;
}
