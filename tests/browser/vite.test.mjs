// The package works with a bundler: Vite builds a page that imports 'rtmpws' (resolved through
// package.json "exports"), and the bundle, wasm included, plays a live stream from the gateway.

import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { build } from 'vite';
import { launchBrowser, makeClip, publish, root, sleep, startGateway, stopProcess, tempDir } from './harness.mjs';

let gateway;
let browser;
let publisher;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stopProcess(publisher);
  await gateway?.stop();
});

test('a Vite bundle of the package loads its wasm and plays', async () => {
  const project = tempDir('vite');
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(root, join(project, 'node_modules', 'rtmpws'), 'dir');
  writeFileSync(join(project, 'index.html'), '<!doctype html><title>vite</title><video id="video" muted></video><script type="module" src="./main.js"></script>\n');
  writeFileSync(
    join(project, 'main.js'),
    `import { NETSTREAM_CODES, NetConnection, NetStream } from 'rtmpws';
window.result = { codes: NETSTREAM_CODES.length, events: [] };
const nc = new NetConnection();
nc.addEventListener('netStatus', (e) => {
  window.result.events.push(e.info.code);
  if (e.info.code === 'NetConnection.Connect.Success') {
    const ns = new NetStream(nc);
    ns.addEventListener('netStatus', (e) => window.result.events.push(e.info.code));
    ns.attachMediaElement(document.getElementById('video'));
    ns.play('vite');
  }
});
nc.connect(\`ws://\${location.host}/live\`);
`,
  );
  const outDir = join(project, 'dist');
  await build({ root: project, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  const assets = readdirSync(join(outDir, 'assets'));
  assert.ok(assets.some((name) => name.endsWith('.wasm')), `no wasm among ${assets}`);

  gateway = await startGateway({ wwwDir: outDir });
  publisher = publish(makeClip(tempDir('vite-clip'), 8), `${gateway.rtmp}/live/vite`);
  await sleep(500);
  const page = await browser.newPage();
  await page.goto(`${gateway.http}/`);
  await page.waitForFunction(() => window.result?.events.includes('NetStream.Buffer.Full'), null, { timeout: 15000 });
  const result = await page.evaluate(() => ({ ...window.result, time: document.getElementById('video').currentTime }));
  assert.equal(result.codes, 32);
  assert.ok(result.events.includes('NetStream.Play.Start'), JSON.stringify(result.events));
  await page.close();
});
