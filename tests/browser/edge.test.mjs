// A page behind an edge: the rtmpws edge pulls from an origin — nginx-rtmp with an ffmpeg
// publisher, or another rtmpws with FFmpeg 9 publishing AV1 + Opus — and the page plays what
// the origin has, through the edge's WebSocket, as it would from the origin itself.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, launchBrowser, makeClip, makeEnhancedClip, publish, publish9, sleep, startGateway, stopProcess, tempDir } from './harness.mjs';
import { openPlayer, waitForEntry, waitForProgress } from './player.mjs';

let browser;
const cleanup = [];

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const step of cleanup.reverse()) {
    await step();
  }
});

/** nginx with libnginx-mod-rtmp on a free port: an origin that knows nothing of rtmpws. */
async function startNginxRtmp(dir) {
  mkdirSync(join(dir, 'logs'), { recursive: true });
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const conf = join(dir, 'nginx.conf');
    writeFileSync(
      conf,
      `load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 64; }
rtmp {
  server {
    listen 127.0.0.1:${port};
    application live { live on; }
  }
}
`,
    );
    const child = spawn('nginx', ['-p', dir, '-e', join(dir, 'logs', 'error.log'), '-c', conf], { stdio: 'ignore' });
    child.once('error', () => {});
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && child.exitCode === null) {
      const open = await new Promise((resolve) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
      if (open) {
        return { child, rtmp: `rtmp://127.0.0.1:${port}` };
      }
      await sleep(100);
    }
    await stopProcess(child);
  }
  throw new Error(`nginx-rtmp did not start: ${readFileSync(join(dir, 'logs', 'error.log'), 'utf8')}`);
}

/** What the element has decoded so far. */
function decoded(page) {
  return page.evaluate(() => ({
    frames: window.t.video.getVideoPlaybackQuality().totalVideoFrames,
    audioBytes: window.t.video.webkitAudioDecodedByteCount ?? 0,
    videoWidth: window.t.video.videoWidth,
    error: window.t.video.error?.message ?? null,
  }));
}

async function edgeOf(origin) {
  const edge = await startGateway({ extraConfig: `[apps.live]\norigin = ["${origin}/live"]\n` });
  cleanup.push(() => edge.stop());
  return edge;
}

test('a page plays a stream of an nginx-rtmp origin through an rtmpws edge, and ffmpeg plays it too', async () => {
  const dir = tempDir('edge-nginx');
  const nginx = await startNginxRtmp(dir);
  cleanup.push(() => stopProcess(nginx.child));
  const publisher = publish(makeClip(dir, 30), `${nginx.rtmp}/live/cam`);
  cleanup.push(() => stopProcess(publisher));
  const edge = await edgeOf(nginx.rtmp);

  const page = await openPlayer(browser, edge, `${edge.ws}/live`);
  await page.evaluate(() => window.t.ns.play('cam'));
  await waitForEntry(page, 'NetStream.Play.Start');
  await waitForProgress(page, 1.5);
  const now = await decoded(page);
  assert.equal(now.error, null);
  assert.ok(now.frames > 10, `only ${now.frames} frames decoded`);
  assert.ok(now.audioBytes > 0, 'no audio decoded');
  // ffmpeg, an RTMP player, from the same edge (one pull serves both).
  const played = spawnSync('ffmpeg', ['-v', 'error', '-i', `${edge.rtmp}/live/cam`, '-frames:v', '30', '-f', 'null', '-'], { timeout: 20000 });
  assert.equal(played.status, 0, String(played.stderr));
  await page.close();
});

test('AV1 + Opus from FFmpeg 9 through an rtmpws origin and an rtmpws edge plays in the page', async () => {
  const dir = tempDir('edge-av1');
  const origin = await startGateway();
  cleanup.push(() => origin.stop());
  const publisher = publish9(makeEnhancedClip(dir, 'av1', 6), `${origin.rtmp}/live/chain`, { loop: true });
  cleanup.push(() => stopProcess(publisher));
  const edge = await edgeOf(origin.rtmp);

  const page = await openPlayer(browser, edge, `${edge.ws}/live`);
  await page.evaluate(() => window.t.ns.play('chain'));
  await waitForEntry(page, 'NetStream.Play.Start');
  await waitForProgress(page, 1.5);
  const now = await decoded(page);
  assert.equal(now.error, null);
  assert.ok(now.frames > 10, `only ${now.frames} frames decoded`);
  assert.equal(now.videoWidth, 320);
  assert.ok(now.audioBytes > 0, 'no Opus decoded');
  await page.close();
});
