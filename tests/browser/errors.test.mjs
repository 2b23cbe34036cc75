// What the player reports when things go wrong: an unknown app, a gateway that dies, a corrupt
// stream, a server that is not there.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { codes, freePort, launchBrowser, makeClip, openDemo, publish, startGateway, stopProcess, tempDir, waitForCode } from './harness.mjs';

let browser;
const cleanup = [];

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const stop of cleanup.reverse()) {
    await stop();
  }
});

async function gatewayForTest() {
  const gateway = await startGateway();
  cleanup.push(() => gateway.stop());
  return gateway;
}

test('connect to an unknown application: Connect.Rejected, then Connect.Closed', async () => {
  const gateway = await gatewayForTest();
  const page = await openDemo(browser, gateway, { url: `${gateway.ws}/nosuchapp` });
  await page.click('#play');
  const rejected = await waitForCode(page, 'NetConnection.Connect.Rejected');
  assert.equal(rejected.info.level, 'error');
  await waitForCode(page, 'NetConnection.Connect.Closed');
  const seen = await codes(page);
  assert.ok(!seen.includes('NetConnection.Connect.Success'), JSON.stringify(seen));
  assert.equal(await page.evaluate(() => window.demo.nc.connected), false);
  await page.close();
});

test('no server at the URL: Connect.Failed', async () => {
  const gateway = await gatewayForTest();
  const port = await freePort();
  const page = await openDemo(browser, gateway, { url: `ws://127.0.0.1:${port}/live` });
  await page.click('#play');
  await waitForCode(page, 'NetConnection.Connect.Failed');
  assert.ok(!(await codes(page)).includes('NetConnection.Connect.Closed'));
  await page.close();
});

test('the gateway is killed: Connect.Closed', async () => {
  const gateway = await gatewayForTest();
  const page = await openDemo(browser, gateway, { name: 'nobody' });
  await page.click('#play');
  // Nobody publishes "nobody": the server answers Reset + Start and waits.
  await waitForCode(page, 'NetStream.Play.Start');
  process.kill(gateway.child.pid, 'SIGKILL');
  const closed = await waitForCode(page, 'NetConnection.Connect.Closed', 10000);
  assert.equal(closed.source, 'nc');
  assert.equal(await page.evaluate(() => window.demo.nc.connected), false);
  await page.close();
});

test('the browser goes offline while connected: Connect.NetworkChange', async () => {
  const gateway = await gatewayForTest();
  const page = await openDemo(browser, gateway, { name: 'nobody' });
  await page.click('#play');
  await waitForCode(page, 'NetStream.Play.Start');
  await browser.setOffline(true);
  try {
    const change = await waitForCode(page, 'NetConnection.Connect.NetworkChange', 5000);
    assert.equal(change.source, 'nc');
  } finally {
    await browser.setOffline(false);
  }
  await page.close();
});

/**
 * The clip with every AVC frame after the first second broken: its first NALU length points
 * far past the end of the frame. The first second stays intact so that ffmpeg, which probes the
 * input before relaying it, can still read the picture size.
 */
function corruptClip(clip, dir) {
  const src = readFileSync(clip);
  const parts = [src.subarray(0, 13)];
  let p = 13;
  let corrupted = 0;
  while (p + 11 <= src.length) {
    const type = src[p];
    const size = src.readUIntBE(p + 1, 3);
    const timestamp = src.readUIntBE(p + 4, 3) | (src[p + 7] << 24);
    const tag = Buffer.from(src.subarray(p, p + 11 + size + 4));
    // Video tag, AVC packet type 1 (NALUs): the NALU length follows the 5-byte tag header.
    if (type === 9 && tag[12] === 1 && timestamp >= 1000 && size > 9) {
      tag.writeUInt32BE(0x7ffffff0, 11 + 5);
      corrupted += 1;
    }
    parts.push(tag);
    p += 11 + size + 4;
  }
  assert.ok(corrupted > 0);
  const out = join(dir, 'corrupt.flv');
  writeFileSync(out, Buffer.concat(parts));
  return out;
}

test('a corrupt stream: NetStream.Play.FileStructureInvalid', async () => {
  const gateway = await gatewayForTest();
  const dir = tempDir('corrupt');
  const clip = corruptClip(makeClip(dir, 4), dir);
  const page = await openDemo(browser, gateway, { name: 'broken' });
  await page.click('#play');
  await waitForCode(page, 'NetStream.Play.Start');
  const publisher = publish(clip, `${gateway.rtmp}/live/broken`);
  cleanup.push(() => stopProcess(publisher));
  const invalid = await waitForCode(page, 'NetStream.Play.FileStructureInvalid', 15000);
  assert.equal(invalid.info.level, 'error');
  assert.equal(invalid.info.details, 'broken');
  assert.match(invalid.info.description, /NALU/);
  // Reported once, not once per broken frame.
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal((await codes(page)).filter((code) => code === 'NetStream.Play.FileStructureInvalid').length, 1);
  await page.close();
});

test('a stream in Flash-era codecs (Sorenson H.263 + MP3): NetStream.Play.NoSupportedTrackFound', async () => {
  const gateway = await gatewayForTest();
  const dir = tempDir('old-codecs');
  const clip = join(dir, 'old.flv');
  const made = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine', '-t', '4', '-c:v', 'flv1', '-c:a', 'libmp3lame', '-ar', '44100', '-f', 'flv', clip]);
  assert.equal(made.status, 0, String(made.stderr));
  const page = await openDemo(browser, gateway, { name: 'old' });
  await page.click('#play');
  await waitForCode(page, 'NetStream.Play.Start');
  const publisher = publish(clip, `${gateway.rtmp}/live/old`);
  cleanup.push(() => stopProcess(publisher));
  const none = await waitForCode(page, 'NetStream.Play.NoSupportedTrackFound', 15000);
  assert.equal(none.info.level, 'error');
  // The codec the page cannot play is the details (whichever track came first), the stream
  // is in the description.
  assert.ok(['.mp3', 'Sorenson H.263 (FLV codec id 2)'].includes(none.info.details), none.info.details);
  assert.ok(none.info.description.includes('old'), none.info.description);
  assert.ok(!(await codes(page)).includes('NetStream.Buffer.Full'));
  await page.close();
});
