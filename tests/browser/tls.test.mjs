// The deployment most sites need: the gateway behind a TLS-terminating proxy (nginx), the
// page served over https and the client on wss://. A page served over https may not open
// ws://, so this is the only way such a site can play.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { codes, freePort, launchBrowser, makeClip, openDemo, publish, sleep, startGateway, stopProcess, tempDir, waitForCode } from './harness.mjs';

let gateway;
let browser;
let publisher;
let proxy;
let clip;

/** A self-signed certificate for 127.0.0.1, made by openssl in `dir`. */
function certificate(dir) {
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  const result = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.status !== 0) {
    throw new Error(`openssl could not make a certificate: ${result.stderr}`);
  }
  return { cert, key };
}

/**
 * nginx terminating TLS on a free port and proxying everything, WebSocket upgrades included,
 * to the gateway's HTTP address. nginx cannot bind port 0 and report it, so a port taken
 * between our choice and its bind makes it exit, and we try another.
 */
async function startTlsProxy(dir, upstream) {
  const { cert, key } = certificate(dir);
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freePort();
    const conf = join(dir, 'nginx.conf');
    mkdirSync(join(dir, 'logs'), { recursive: true });
    writeFileSync(
      conf,
      `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    location / {
      proxy_pass http://${upstream};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header Host $host;
      proxy_buffering off;
      proxy_read_timeout 1h;
    }
  }
}
`,
    );
    const child = spawn('nginx', ['-p', dir, '-e', join(dir, 'logs', 'error.log'), '-c', conf], { stdio: 'ignore' });
    const failed = new Promise((_, reject) => child.once('error', (error) => reject(new Error(`cannot start nginx (scripts/setup.sh test installs it): ${error.message}`))));
    failed.catch(() => {});
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && child.exitCode === null) {
      await Promise.race([failed, sleep(0)]);
      const probe = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`], { input: '', stdio: ['pipe', 'ignore', 'ignore'], timeout: 2000 });
      if (probe.status === 0) {
        return { child, url: `https://127.0.0.1:${port}` };
      }
      await sleep(100);
    }
    await stopProcess(child);
  }
  throw new Error(`nginx did not start; see ${join(dir, 'logs', 'error.log')}: ${readFileSync(join(dir, 'logs', 'error.log'), 'utf8')}`);
}

before(async () => {
  clip = makeClip(tempDir('clip'), 20);
  gateway = await startGateway();
  proxy = await startTlsProxy(tempDir('tls'), `127.0.0.1:${gateway.httpPort}`);
  browser = await launchBrowser({ ignoreHTTPSErrors: true });
});

after(async () => {
  await browser?.close();
  await stopProcess(publisher);
  await stopProcess(proxy?.child);
  await gateway?.stop();
});

test('an https page plays a live stream over wss:// through a TLS proxy', async () => {
  publisher = publish(clip, `${gateway.rtmp}/live/secure`);
  await sleep(1500);
  const page = await openDemo(browser, { http: proxy.url }, { name: 'secure' });
  // The demo page picks wss:// by itself when it was served over https.
  assert.equal(await page.inputValue('#url'), `${proxy.url.replace('https', 'wss')}/live`);
  await page.click('#play');
  await waitForCode(page, 'NetStream.Buffer.Full');
  const seen = await codes(page);
  assert.ok(seen.indexOf('NetConnection.Connect.Success') < seen.indexOf('NetStream.Play.Start'), JSON.stringify(seen));
  const uri = await page.evaluate(() => window.demo.nc.uri);
  assert.ok(uri.startsWith('wss://127.0.0.1:'), uri);
  const success = await page.evaluate(() => window.demo.log.find((e) => e.info?.code === 'NetConnection.Connect.Success').info);
  assert.ok('clientid' in success, JSON.stringify(success));

  const t1 = await page.evaluate(() => document.getElementById('video').currentTime);
  await sleep(1500);
  const state = await page.evaluate(() => {
    const video = document.getElementById('video');
    return { currentTime: video.currentTime, frames: video.getVideoPlaybackQuality().totalVideoFrames, error: video.error?.message ?? null };
  });
  assert.equal(state.error, null);
  assert.ok(state.currentTime > t1 + 0.8, `currentTime went from ${t1} to ${state.currentTime}`);
  assert.ok(state.frames > 0, 'no decoded frames');
  await page.close();
});
