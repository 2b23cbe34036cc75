// TLS served by the gateway itself, no proxy in front: the page comes over https:// from the
// gateway's https_addr and plays over wss:// on the same port; ffmpeg publishes over rtmps://.
// (tls.test.mjs covers the alternative: nginx terminating TLS in front of plain HTTP.)

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { codes, launchBrowser, makeClip, openDemo, publish, selfSignedCertificate, sleep, startGateway, stopProcess, tempDir, waitForCode } from './harness.mjs';

let gateway;
let browser;
let publisher;
let clip;

before(async () => {
  clip = makeClip(tempDir('clip'), 20);
  const { cert, key } = selfSignedCertificate(tempDir('tls'));
  gateway = await startGateway({
    extraConfig: ['[tls]', `cert = ${JSON.stringify(cert)}`, `key = ${JSON.stringify(key)}`, 'https_addr = "127.0.0.1:0"', 'rtmps_addr = "127.0.0.1:0"'].join('\n'),
  });
  assert.ok(gateway.https && gateway.rtmps, 'the gateway reported no https or rtmps address');
  browser = await launchBrowser({ ignoreHTTPSErrors: true });
});

after(async () => {
  await browser?.close();
  await stopProcess(publisher);
  await gateway?.stop();
});

test('an https page from the gateway plays a live stream over wss:// from the gateway', async () => {
  publisher = publish(clip, `${gateway.rtmps}/live/direct`);
  await sleep(1500);
  const page = await openDemo(browser, { http: gateway.https }, { name: 'direct' });
  assert.equal(await page.evaluate(() => location.protocol), 'https:');
  // The demo page picks wss:// by itself when it was served over https.
  assert.equal(await page.inputValue('#url'), `${gateway.wss}/live`);
  await page.click('#play');
  await waitForCode(page, 'NetStream.Buffer.Full');
  const seen = await codes(page);
  const [connected, started, full] = ['NetConnection.Connect.Success', 'NetStream.Play.Start', 'NetStream.Buffer.Full'].map((code) => seen.indexOf(code));
  assert.ok(connected >= 0 && connected < started && started < full, JSON.stringify(seen));
  const uri = await page.evaluate(() => window.demo.nc.uri);
  assert.ok(uri.startsWith(`${gateway.wss}/`), uri);

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
