// Compiled with `npm run check:types` (tsc --noEmit): the public types describe real usage.
import { AsyncErrorEvent, NETSTREAM_CODES, NetConnection, NetStatusEvent, NetStream, Responder, SharedObject, SyncEvent } from 'rtmpws';
import type { PublishOptions } from 'rtmpws';

const nc = new NetConnection();
nc.objectEncoding = 0;
nc.client = { onBWDone(): void {} };
nc.addEventListener('netStatus', (event: NetStatusEvent) => {
  const code: string = event.info.code;
  if (code === 'NetConnection.Connect.Success') {
    const ns = new NetStream(nc);
    ns.bufferTime = 0.5;
    ns.client = {
      onMetaData(meta) {
        const width = meta.width as number;
        console.log(width);
      },
      onPlayStatus(info) {
        console.log(info.code, info.level);
      },
    };
    const client: object | null = ns.client;
    console.log(client, nc.client);
    ns.attachMediaElement(document.querySelector('video'));
    ns.addEventListener('netStatus', (e) => console.log(e.info.details, e.info.clientid));
    ns.addEventListener('asyncError', (e: AsyncErrorEvent) => console.log(e.error.message));
    ns.play('cam');
    ns.play('cam', -1, -1, false);
    ns.seek(10);
    ns.seek('asdasdas');
    ns.send('onTextData', { text: 'hi', when: new Date() });
    ns.play2({ streamName: 'cam2', transition: 'switch' });
    const t: number = ns.time + ns.bufferLength + ns.liveDelay + ns.currentFPS + ns.bytesLoaded;
    console.log(t, ns.info.metaData, ns.info.playbackLatency);
    ns.close();
    const out = new NetStream(nc);
    const options: PublishOptions = { videoCodec: 'av1', videoBitrate: 1_000_000, keyframeInterval: 2 };
    out.attachMediaStream(new MediaStream(), options);
    out.publish('cam', 'record');
    out.attachMediaStream(null);
  }
});
nc.connect('ws://127.0.0.1:8080/live', 'extra', { arg: 1 });
nc.call('echo', new Responder((value) => console.log(value), (info) => console.log(info.code)), 1, 'two');
nc.call('echo', (value) => console.log(value));
nc.call('fireAndForget', null);
const codes: string[] = NETSTREAM_CODES.map((entry) => `${entry.code} ${entry.level} ${entry.how}`);
console.log(codes.length);

// Remote shared objects.
{
  const nc = new NetConnection();
  const so = SharedObject.getRemote('room', 'ws://127.0.0.1:8080/chat', false);
  so.client = { onChat: (text: string) => text.length };
  so.fps = 10;
  so.addEventListener('sync', (event) => {
    for (const change of event.changeList) {
      const code: 'clear' | 'success' | 'reject' | 'change' | 'delete' = change.code;
      void [code, change.name, change.oldValue, so.data[change.name]];
    }
  });
  so.connect(nc);
  so.setProperty('topic', { text: 'hi' });
  so.setProperty('topic', null);
  so.setDirty('topic');
  so.send('onChat', 'hello');
  const encoding: 0 | 3 = so.objectEncoding;
  void encoding;
  so.close();
  const event: SyncEvent = new SyncEvent(SyncEvent.SYNC, []);
  void event;
}
