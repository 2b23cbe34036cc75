// The release wasm (built with panic = abort, so any panic would trap) fed hostile bytes: a
// server that speaks garbage after a valid handshake, and garbage FLV for appendBytes. Every
// failure must come back as an event, never as a trap.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, startGateway } from './harness.mjs';

let gateway;
let browser;

before(async () => {
  gateway = await startGateway();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
});

test('garbage from the server and garbage FLV become events, never traps', async () => {
  const page = await browser.newPage();
  await page.goto(`${gateway.http}/`);
  const result = await page.evaluate(async () => {
    const wasm = await import('/pkg/wasm/rtmpws_wasm.js');
    await wasm.default({ module_or_path: '/pkg/wasm/rtmpws_wasm_bg.wasm' });
    let seed = 0x9e3779b9;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    const bytes = (n) => Uint8Array.from({ length: n }, () => random() & 0xff);
    const counts = { events: 0, protocolErrors: 0, mediaErrors: 0, traps: 0 };
    for (let round = 0; round < 300; round++) {
      const conn = new wasm.Connection();
      try {
        conn.connect({ app: 'live', tcUrl: 'ws://x/live' }, []);
        conn.createStream();
        conn.enableMedia(1, true);
        conn.takeOutput();
        // S0 + S1 + S2 (the client does not check S2), then chunk-stream garbage, sometimes
        // starting with a plausible chunk header for stream 1 so the media path is reached too.
        const s0s1s2 = new Uint8Array(1 + 1536 * 2);
        s0s1s2[0] = 3;
        s0s1s2.set(bytes(3072), 1);
        conn.receive(s0s1s2);
        for (let i = 0; i < 8; i++) {
          const chunk = bytes(1 + (random() % 600));
          if (round % 3 === 0 && i === 0) {
            chunk.set([0x06, 0, 0, 0, 0, 0x01, 0x00, 9, 1, 0, 0, 0].slice(0, chunk.length));
          }
          for (const event of conn.receive(chunk)) {
            counts.events += 1;
            if (event.type === 'protocolError') counts.protocolErrors += 1;
            if (event.type === 'mediaError') counts.mediaErrors += 1;
          }
          conn.takeOutput();
        }
      } catch (error) {
        counts.traps += 1;
        counts.lastTrap = String(error);
        break;
      } finally {
        try {
          conn.free();
        } catch {
          // a trapped instance cannot be freed
        }
      }
    }
    for (let round = 0; round < 200; round++) {
      const player = new wasm.Player();
      try {
        const header = Uint8Array.of(0x46, 0x4c, 0x56, 1, 5, 0, 0, 0, 9, 0, 0, 0, 0);
        player.pushFlv(round % 2 === 0 ? header : bytes(13));
        for (let i = 0; i < 6; i++) {
          player.pushFlv(bytes(1 + (random() % 400)));
          player.pushVideo(random() % 10000, bytes(random() % 64));
          player.pushAudio(random() % 10000, bytes(random() % 32));
          for (const event of player.poll()) {
            counts.events += 1;
            if (event.type === 'mediaError') counts.mediaErrors += 1;
          }
        }
        player.end();
        player.poll();
      } catch (error) {
        counts.traps += 1;
        counts.lastTrap = String(error);
        break;
      } finally {
        try {
          player.free();
        } catch {
          // see above
        }
      }
    }
    return counts;
  });
  console.log(`hostile input: ${JSON.stringify(result)}`);
  assert.equal(result.traps, 0, result.lastTrap);
  assert.ok(result.protocolErrors > 0, 'garbage was never reported');
  assert.ok(result.mediaErrors > 0, 'garbage media was never reported');
  await page.close();
});
