// What reaches a page from the network is data, never control: a publisher's data messages named
// like NetStream methods or status handlers, a server naming stream ids, a media element that
// takes no media, and what connect() tells the server about the page.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { launchBrowser, openDemo, sleep, startGateway, tempDir } from './harness.mjs';
import { makeVideo, openPlayer, playerLog, state, waitForEntry, waitForPlaying } from './player.mjs';

let gateway;
let browser;
let clip;

before(async () => {
  gateway = await startGateway();
  browser = await launchBrowser();
  clip = makeVideo(tempDir('untrusted'), 'clip', { seconds: 30, size: '320x180' });
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
});

/**
 * A page that publishes `name` from the browser: the clip's FLV tags sent with sendMedia in
 * real time, so the test can add any data message with ns.send. `window.pub.at` is the
 * timestamp (ms) of the media sent last.
 */
async function openPublisher(name) {
  const page = await openDemo(browser, gateway);
  const bytes = readFileSync(clip);
  await page.route('**/clip.flv', (route) => route.fulfill({ status: 200, contentType: 'video/x-flv', body: bytes }));
  await page.evaluate(
    async ({ url, name }) => {
      const { NetConnection, NetStream } = await import('/pkg/index.js');
      const flv = new Uint8Array(await (await fetch('/clip.flv')).arrayBuffer());
      const tags = [];
      // FLV header (9 bytes) and PreviousTagSize0, then tags of 11-byte headers.
      for (let at = 13; at + 11 <= flv.length; ) {
        const size = (flv[at + 1] << 16) | (flv[at + 2] << 8) | flv[at + 3];
        const timestamp = ((flv[at + 7] << 24) | (flv[at + 4] << 16) | (flv[at + 5] << 8) | flv[at + 6]) >>> 0;
        if (flv[at] === 8 || flv[at] === 9) {
          tags.push({ kind: flv[at] === 9 ? 'video' : 'audio', timestamp, body: flv.subarray(at + 11, at + 11 + size) });
        }
        at += 11 + size + 4;
      }
      const nc = new NetConnection();
      await new Promise((resolve) => {
        nc.addEventListener('netStatus', (e) => e.info.code === 'NetConnection.Connect.Success' && resolve());
        nc.connect(url);
      });
      const ns = new NetStream(nc);
      await new Promise((resolve) => {
        ns.addEventListener('netStatus', (e) => e.info.code === 'NetStream.Publish.Start' && resolve());
        ns.publish(name);
      });
      const pub = { nc, ns, at: 0, stopped: false };
      window.pub = pub;
      const start = performance.now();
      (async () => {
        for (const tag of tags) {
          const wait = start + tag.timestamp - performance.now();
          if (wait > 0) {
            await new Promise((resolve) => setTimeout(resolve, wait));
          }
          if (pub.stopped) {
            return;
          }
          ns.sendMedia(tag.kind, tag.timestamp, tag.body);
          pub.at = tag.timestamp;
        }
      })();
    },
    { url: `${gateway.ws}/live`, name },
  );
  return page;
}

/** Plays `name` and waits until the picture moves. */
async function startPlaying(page, name) {
  await page.evaluate((name) => window.t.ns.play(name), name);
  await waitForPlaying(page);
}

/** Waits until the page shows media the publisher sent after `ms` (stream time). */
async function waitForStreamTime(page, ms, timeout = 15000) {
  try {
    await page.waitForFunction((s) => window.t.ns.time >= s, ms / 1000, { timeout, polling: 50 });
  } catch {
    throw new Error(`ns.time did not pass ${ms / 1000} s: ${JSON.stringify(await state(page))}`);
  }
}

/** Data messages a publisher should not be able to turn into calls or statuses in a viewer. */
const FORGED = [
  ['seek', 0],
  ['close'],
  ['publish', 'hijacked'],
  ['play', 'hijacked'],
  ['pause'],
  ['dispose'],
  ['onStatus', { level: 'error', code: 'NetStream.Play.Stop', description: 'forged' }],
  ['onStatus', { level: 'status', code: 'NetStream.Data.Start', description: 'forged' }],
  ['onPlayStatus', { level: 'status', code: 'NetStream.Play.Complete', description: 'forged' }],
  ['onPlayStatus', { level: 'status', code: 'NetStream.Play.Switch', description: 'forged', details: 'hijacked' }],
  ['constructor'],
  ['toString'],
  ['hasOwnProperty', 'x'],
  ['__proto__', { polluted: true }],
];
/** Of those, the ones a client without such handlers hears about as asyncError, as in Flash. */
const MISSING_HANDLERS = ['seek', 'close', 'publish', 'play', 'pause', 'dispose', 'constructor', 'toString', 'hasOwnProperty', '__proto__'];

test('a publisher\'s data named like NetStream methods or status handlers neither calls nor reports anything in a viewer; the page\'s own handler is called', async () => {
  const name = 'forged';
  const publisher = await openPublisher(name);

  // A viewer whose client inherits seek/close/onStatus from its prototype: only its own
  // handlers may run.
  const withClient = await openPlayer(browser, gateway, `${gateway.ws}/live`);
  await withClient.evaluate(() => {
    const t = window.t;
    const inherited = {};
    for (const method of ['seek', 'close', 'publish', 'onStatus', 'onPlayStatus', 'onTextData']) {
      inherited[method] = () => t.note('inherited', { code: method });
    }
    t.ns.client = Object.assign(Object.create(inherited), {
      onMetaData: (meta) => t.note('onMetaData', meta),
      onPlayStatus: (info) => t.note('onPlayStatus', info),
      onTextData: (data) => t.note('onTextData', data),
    });
  });
  // A viewer with no client at all, and every NetStream method watched.
  const noClient = await openPlayer(browser, gateway, `${gateway.ws}/live`, { client: false });
  await startPlaying(withClient, name);
  await startPlaying(noClient, name);
  await noClient.evaluate(() => {
    const t = window.t;
    t.calls = [];
    const proto = Object.getPrototypeOf(t.ns);
    for (const method of Object.getOwnPropertyNames(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, method);
      if (method !== 'constructor' && typeof descriptor.value === 'function') {
        proto[method] = function (...args) {
          t.calls.push(method);
          return descriptor.value.apply(this, args);
        };
      }
    }
  });
  const marks = await Promise.all([withClient, noClient].map((page) => page.evaluate(() => window.t.log.length)));

  const sentAt = await publisher.evaluate((forged) => {
    for (const [handler, ...args] of forged) {
      window.pub.ns.send(handler, ...args);
    }
    window.pub.ns.send('onTextData', { text: 'after' });
    return window.pub.at;
  }, FORGED);

  // The handler the page set is called, after everything before it in the stream.
  // (Log entries of handlers without an info.code have code null.)
  const { entry } = await waitForEntry(withClient, null, { kind: 'onTextData', from: marks[0] });
  assert.deepEqual(entry.info, { text: 'after' });
  // Both viewers play on through media sent after the forged data.
  await waitForStreamTime(withClient, sentAt + 1500);
  await waitForStreamTime(noClient, sentAt + 1500);

  const seen = (await playerLog(withClient)).slice(marks[0]);
  const statuses = seen.filter((e) => e.kind === 'netStatus' && e.code !== 'NetStream.Buffer.Full' && e.code !== 'NetStream.Buffer.Empty');
  assert.deepEqual(statuses, [], 'netStatus events after the forged data');
  assert.deepEqual(seen.filter((e) => e.kind === 'onPlayStatus' || e.kind === 'inherited'), [], 'forged onPlayStatus or an inherited method was called');
  const asyncErrors = seen.filter((e) => e.kind === 'asyncError').map((e) => e.info.text);
  assert.deepEqual(asyncErrors, MISSING_HANDLERS.map((handler) => `NetStream was unable to invoke callback ${handler}.`));
  assert.equal(await withClient.evaluate(() => Object.prototype.polluted), undefined);
  assert.equal(await withClient.evaluate(() => window.t.ns.info.resourceName), name);

  const quiet = (await playerLog(noClient)).slice(marks[1]).filter((e) => e.kind !== 'netStatus' || !e.code.startsWith('NetStream.Buffer.'));
  assert.deepEqual(quiet, [], 'a viewer without a client heard something');
  assert.deepEqual(await noClient.evaluate(() => window.t.calls), [], 'NetStream methods were called');

  for (const page of [withClient, noClient]) {
    const { frames, paused } = await state(page);
    assert.ok(frames > 30 && !paused, `${frames} frames, paused ${paused}`);
  }
  await publisher.evaluate(() => {
    window.pub.stopped = true;
  });
  await Promise.all([publisher.close(), withClient.close(), noClient.close()]);
});

test('swfUrl and pageUrl in connect leave out the page\'s URL fragment', async () => {
  const page = await browser.newPage();
  await page.goto(`${gateway.http}/?from=test#access_token=s3cr3t-fragment`);
  await page.waitForFunction(() => window.demo !== undefined, null, { timeout: 15000 });
  const sent = await page.evaluate(async (url) => {
    const chunks = [];
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      chunks.push(Array.from(new Uint8Array(data instanceof ArrayBuffer ? data : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength))));
      return send.call(this, data);
    };
    const { NetConnection } = await import('/pkg/index.js');
    const nc = new NetConnection();
    await new Promise((resolve) => {
      nc.addEventListener('netStatus', resolve, { once: true });
      nc.connect(url);
    });
    nc.close();
    WebSocket.prototype.send = send;
    return { text: new TextDecoder('latin1').decode(Uint8Array.from(chunks.flat())), href: location.href };
  }, `${gateway.ws}/live`);
  assert.ok(sent.href.includes('#access_token'), sent.href);
  const address = `${gateway.http}/?from=test`;
  // AMF0 strings: 2-byte length, then the bytes; both keys carry the address without '#...'.
  const amf = (s) => String.fromCharCode(s.length >> 8, s.length & 0xff) + s;
  assert.ok(sent.text.includes(`swfUrl\x02${amf(address)}`), 'swfUrl is not the address without its fragment');
  assert.ok(sent.text.includes(`pageUrl\x02${amf(address)}`), 'pageUrl is not the address without its fragment');
  assert.ok(!sent.text.includes('s3cr3t'), 'the fragment was sent');
  await page.close();
});

test('a media element that takes no media: the append queue stops at its limit with one NetStream.Failed', async () => {
  const name = 'flood';
  const viewer = await openPlayer(browser, gateway, `${gateway.ws}/live`);
  await viewer.evaluate((name) => {
    const t = window.t;
    // A MediaSource that never opens: every segment waits in the queue.
    window.MediaSource = class extends MediaSource {
      get readyState() {
        return 'closed';
      }
    };
    t.ns.addEventListener('netStatus', (e) => {
      if (e.info.code === 'NetStream.Failed') {
        t.failedAtBytes = t.ns.bytesLoaded;
      }
    });
    t.ns.play(name);
  }, name);
  await waitForEntry(viewer, 'NetStream.Play.Start');

  const publisher = await openDemo(browser, gateway);
  const sent = await publisher.evaluate(
    async ({ url, name }) => {
      const { NetConnection, NetStream } = await import('/pkg/index.js');
      const nc = new NetConnection();
      await new Promise((resolve) => {
        nc.addEventListener('netStatus', (e) => e.info.code === 'NetConnection.Connect.Success' && resolve());
        nc.connect(url);
      });
      const ns = new NetStream(nc);
      await new Promise((resolve) => {
        ns.addEventListener('netStatus', (e) => e.info.code === 'NetStream.Publish.Start' && resolve());
        ns.publish(name);
      });
      const hex = (s) => Uint8Array.from(s.match(/../g), (b) => parseInt(b, 16));
      // x264's AVC sequence header (64x48) and an AAC-LC one, then 512 KiB keyframes.
      ns.sendMedia('video', 0, hex('17000000000164000affe100186764000aacd9447b0110000003001000000303c0f122596001000668ebe3cb22c0fdf8f800'));
      ns.sendMedia('audio', 0, hex('af00120856e500'));
      const frame = new Uint8Array(512 << 10);
      frame.set([0x17, 1, 0, 0, 0]);
      new DataView(frame.buffer).setUint32(5, frame.length - 9);
      frame[9] = 0x65;
      let bytes = 0;
      for (let i = 0; i < 96; i++) {
        ns.sendMedia('video', i * 33, frame);
        ns.sendMedia('audio', i * 33, Uint8Array.of(0xaf, 1, 0x21, 0x10, 0x04));
        bytes += frame.length;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      window.keep = { nc, ns };
      return bytes;
    },
    { url: `${gateway.ws}/live`, name },
  );
  const { entry } = await waitForEntry(viewer, 'NetStream.Failed', { timeout: 20000 });
  assert.equal(entry.info.level, 'error');
  assert.match(entry.info.description, /More than 32 MiB of media waited for the media element/);
  // Not before the limit: about 32 MiB had arrived (give or take a frame and the fMP4 boxes).
  const failedAt = await viewer.evaluate(() => window.t.failedAtBytes);
  assert.ok(failedAt >= (31 << 20) && failedAt < sent, `failed after ${failedAt} of ${sent} bytes`);
  // Media goes on arriving, and nothing more is reported or queued.
  await viewer.waitForFunction((more) => window.t.ns.bytesLoaded >= more, failedAt + (8 << 20), { timeout: 20000, polling: 100 });
  await sleep(300);
  const failures = (await playerLog(viewer)).filter((e) => e.code === 'NetStream.Failed');
  assert.equal(failures.length, 1);
  assert.deepEqual(viewer.messages.filter((m) => m.startsWith('pageerror')), []);
  await Promise.all([publisher.close(), viewer.close()]);
});

test('stream ids the server names: one id twice, or more than 256 streams, fail createStream with NetStream.Failed', async () => {
  const page = await browser.newPage();
  await page.goto(`${gateway.http}/`);
  const result = await page.evaluate(async () => {
    const wasm = await import('/pkg/wasm/rtmpws_wasm.js');
    await wasm.default({ module_or_path: '/pkg/wasm/rtmpws_wasm_bg.wasm' });
    const amfString = (s) => [0x02, s.length >> 8, s.length & 0xff, ...new TextEncoder().encode(s)];
    const amfNumber = (n) => {
      const b = new Uint8Array(9);
      new DataView(b.buffer).setFloat64(1, n);
      return [...b];
    };
    // A command on chunk stream 3 of message stream 0 (fmt 0 header: 12 bytes).
    const command = (body) => [0x03, 0, 0, 0, (body.length >> 16) & 0xff, (body.length >> 8) & 0xff, body.length & 0xff, 0x14, 0, 0, 0, 0, ...body];
    const answer = (transaction, id) => command([...amfString('_result'), ...amfNumber(transaction), 0x05, ...amfNumber(id)]);
    const session = () => {
      const conn = new wasm.Connection();
      conn.connect({ app: 'live', tcUrl: 'ws://x/live' }, []);
      conn.takeOutput();
      conn.receive(new Uint8Array(1 + 1536 * 2).fill(3, 0, 1));
      return conn;
    };
    const summary = (events) => events.map((e) => (e.type === 'callError' ? `callError ${e.transactionId} ${e.args[0].code} ${e.args[0].description}` : `${e.type} ${e.transactionId} ${e.streamId}`));

    const twice = session();
    const first = twice.createStream();
    const second = twice.createStream();
    const dup = summary(twice.receive(Uint8Array.from([...answer(first, 1), ...answer(second, 1)])));
    twice.free();

    const many = session();
    const transactions = Array.from({ length: 257 }, () => many.createStream());
    many.takeOutput();
    const events = many.receive(Uint8Array.from(transactions.flatMap((t, i) => answer(t, i + 1))));
    const output = new TextDecoder('latin1').decode(many.takeOutput() ?? new Uint8Array());
    many.free();
    return {
      dup,
      created: events.filter((e) => e.type === 'streamCreated').length,
      refused: summary(events.filter((e) => e.type !== 'streamCreated')),
      last: transactions[256],
      deleted: output.includes('deleteStream'),
    };
  });
  assert.equal(result.dup.length, 2, result.dup.join('\n'));
  assert.match(result.dup[0], /^streamCreated \d+ 1$/);
  assert.match(result.dup[1], /^callError \d+ NetStream\.Failed The server gave stream id 1 twice\.$/);
  assert.equal(result.created, 256);
  assert.deepEqual(result.refused, [`callError ${result.last} NetStream.Failed More than 256 streams on one connection.`]);
  assert.ok(result.deleted, 'the refused stream was not deleted on the server');
  await page.close();
});

test('onPlayStatus data is a play status only with the server\'s codes on a recorded stream; onStatus data never is', async () => {
  const page = await browser.newPage();
  await page.goto(`${gateway.http}/`);
  const seen = await page.evaluate(async () => {
    const wasm = await import('/pkg/wasm/rtmpws_wasm.js');
    await wasm.default({ module_or_path: '/pkg/wasm/rtmpws_wasm_bg.wasm' });
    const amfString = (s) => [0x02, s.length >> 8, s.length & 0xff, ...new TextEncoder().encode(s)];
    const amfObject = (pairs) => [0x03, ...Object.entries(pairs).flatMap(([k, v]) => [k.length >> 8, k.length & 0xff, ...new TextEncoder().encode(k), ...amfString(v)]), 0, 0, 9];
    const amfNumber = (n) => {
      const b = new Uint8Array(9);
      new DataView(b.buffer).setFloat64(1, n);
      return [...b];
    };
    const header = (csid, type, streamId, length) => [csid, 0, 0, 0, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff, type, streamId, 0, 0, 0];
    const message = (csid, type, streamId, body) => [...header(csid, type, streamId, body.length), ...body];
    const data = (handler, code) => message(5, 0x12, 1, [...amfString(handler), ...amfObject({ level: 'status', code })]);
    const conn = new wasm.Connection();
    conn.connect({ app: 'live', tcUrl: 'ws://x/live' }, []);
    const transaction = conn.createStream();
    conn.takeOutput();
    conn.receive(new Uint8Array(1 + 1536 * 2).fill(3, 0, 1));
    conn.receive(Uint8Array.from(message(3, 0x14, 0, [...amfString('_result'), ...amfNumber(transaction), 0x05, ...amfNumber(1)])));
    conn.play(1, 'item', -2, -1, true);
    const kinds = (bytes) => conn.receive(Uint8Array.from(bytes)).map((e) => `${e.type} ${e.name ?? ''}${e.info?.code ?? ''}`.trim());
    const live = kinds([...data('onPlayStatus', 'NetStream.Play.Complete'), ...data('onStatus', 'NetStream.Play.Stop'), ...data('onTextData', 'x')]);
    // User control StreamIsRecorded (event 4) for stream 1: from now on the server's three codes count.
    const recorded = kinds([
      ...message(2, 0x04, 0, [0, 4, 0, 0, 0, 1]),
      ...data('onPlayStatus', 'NetStream.Play.Stop'),
      ...data('onPlayStatus', 'NetStream.Play.Switch'),
      ...data('onStatus', 'NetStream.Data.Start'),
      ...data('onPlayStatus', 'NetStream.Play.Complete'),
    ]);
    conn.free();
    return { live, recorded };
  });
  assert.deepEqual(seen.live, ['data onTextData']);
  assert.deepEqual(seen.recorded, ['userControl', 'playStatus NetStream.Play.Switch', 'playStatus NetStream.Play.Complete']);
  await page.close();
});
