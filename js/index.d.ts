// Types of the public API of `rtmpws`: ActionScript's NetConnection and NetStream over
// RTMP-in-WebSocket, played through Media Source Extensions.

/** An AMF value as it reaches JavaScript. */
export type AmfValue =
  | number
  | string
  | boolean
  | null
  | undefined
  | Date
  | Uint8Array
  | AmfValue[]
  | { [key: string]: AmfValue };

/**
 * The info object of a `netStatus` event, exactly as the server sent it (every field kept,
 * in wire order), or as the player made it for the codes it raises itself.
 */
export interface NetStatusInfo {
  code: string;
  level?: 'status' | 'warning' | 'error' | string;
  description?: string;
  details?: string;
  /** A number on FMS and Red5, a string on SRS and others. */
  clientid?: number | string;
  [field: string]: AmfValue;
}

/** `{code, level, how}`: how is 'S' (server onStatus), 'P' (server onPlayStatus), 'C' (player) or 'SC'. */
export interface StatusCodeEntry {
  readonly code: string;
  readonly level: 'status' | 'warning' | 'error';
  readonly how: 'S' | 'P' | 'C' | 'SC';
}

/** The 32 NetStream codes, from the wasm catalogue, in catalogue order. */
export const NETSTREAM_CODES: readonly StatusCodeEntry[];
/** Every NetStream and NetConnection code rtmpws knows. */
export const STATUS_CODES: readonly StatusCodeEntry[];

/** `netStatus`: `info` is the full info object. */
export class NetStatusEvent extends Event {
  static readonly NET_STATUS: 'netStatus';
  constructor(type: string, info: NetStatusInfo);
  readonly info: NetStatusInfo;
}

/** `asyncError`: a callback the server asked for is missing on `client`, or it threw. */
export class AsyncErrorEvent extends Event {
  static readonly ASYNC_ERROR: 'asyncError';
  constructor(type: string, error: Error);
  readonly error: Error;
  readonly text: string;
}

/** `ioError`: the WebSocket failed, or carried bytes that are not RTMP. */
export class IOErrorEvent extends Event {
  static readonly IO_ERROR: 'ioError';
  constructor(type: string, text: string);
  readonly text: string;
}

interface NetEventMap {
  netStatus: NetStatusEvent;
  asyncError: AsyncErrorEvent;
  ioError: IOErrorEvent;
}

/** Answers of NetConnection.call: `result(...values)` for `_result`, `status(info)` for `_error`. */
export class Responder {
  constructor(result: (...values: AmfValue[]) => void, status?: (info: NetStatusInfo) => void);
  result: (...values: AmfValue[]) => void;
  status?: (info: NetStatusInfo) => void;
}

export type ResponderLike =
  | Responder
  | { result?: (...values: AmfValue[]) => void; status?: (info: NetStatusInfo) => void }
  | ((...values: AmfValue[]) => void);

/**
 * One RTMP connection carried by a WebSocket.
 *
 * netStatus codes it dispatches: NetConnection.Connect.Success / Rejected / InvalidApp /
 * AppShutdown / IdleTimeOut (from the server), Connect.Failed (the socket could not open),
 * Connect.Closed (the socket closed after success or rejection, or close()),
 * Connect.NetworkChange (the browser went offline or online while connected), Call.Failed.
 *
 * Enhanced RTMP: connect announces what this browser plays (`fourCcList`, and
 * `videoFourCcInfoMap`/`audioFourCcInfoMap` with CanDecode for what MSE plays and CanEncode
 * for what it can publish) and `capsEx` Reconnect. When the server sends
 * NetConnection.Connect.ReconnectRequest (dispatched as is, `tcUrl` included) the connection
 * follows it: it connects to `tcUrl` when that is a ws:// or wss:// URL, else to the same URI,
 * with the same connect arguments; Connect.Success follows, then every stream that was playing
 * plays again (live ones at the live edge, recorded ones from `time`) and every stream that was
 * publishing publishes again, each with its own statuses (Play.Reset, Play.Start,
 * Publish.Start). No Connect.Closed is dispatched for the old connection. At most 5 requests a
 * minute are followed.
 */
export class NetConnection extends EventTarget {
  /** objectEncoding of new connections: 0 (AMF0, the default here) or 3. */
  static defaultObjectEncoding: 0 | 3;

  constructor();

  /**
   * Connects to `ws://host[:port]/app[/instance][?query]` or `wss://...`: app is the path after
   * the host, tcUrl the URL itself. `args` follow the command object of `connect`.
   * `connect(null)` is Flash's local mode (for NetStream.appendBytes).
   * @throws TypeError for a URL that is not ws:// or wss://
   */
  connect(uri: string | null, ...args: AmfValue[]): void;

  /** Calls a server method; `responder` gets the result, or the error info (NetConnection.Call.Failed). */
  call(command: string, responder: ResponderLike | null, ...args: AmfValue[]): void;

  /** Closes the connection; netStatus NetConnection.Connect.Closed follows. */
  close(): void;

  readonly connected: boolean;
  readonly uri: string | null;
  /**
   * The object whose handlers the server may call (onBWDone, ...): its own properties only,
   * nothing it inherits. `null` until set; then server calls are ignored.
   *
   * Unlike Flash, where the NetConnection is its own client by default: a server call named
   * like one of its methods (`close`, `call`, `connect`) must not run it.
   */
  get client(): object | null;
  set client(value: object);
  // A server call that waits for an answer (a non-zero transaction id, as the gateway's
  // admin API makes) is answered as Flash does: `_result` with the handler's return value (a
  // returned Promise is awaited first), `_error` NetConnection.Call.Failed when the client has
  // no such own handler, or the handler threw, or its Promise was rejected.
  /** 0 or 3; set it before connect(). */
  objectEncoding: 0 | 3;
  readonly protocol: 'rtmp' | 'rtmps';
  readonly usingTLS: boolean;
  readonly connectedProxyType: 'none';

  addEventListener<K extends keyof NetEventMap>(type: K, listener: (this: NetConnection, event: NetEventMap[K]) => unknown, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof NetEventMap>(type: K, listener: (this: NetConnection, event: NetEventMap[K]) => unknown, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

/**
 * Callbacks a NetStream invokes on its `client`. Any handler sent with NetStream.send is called
 * too, if the client has it as an own property: `{ onMetaData() {} }`, or a class field
 * (`onMetaData = () => {}`), but not a method of a class's prototype, and never anything
 * inherited (`constructor`, `toString`...). A publisher names those handlers, so only what
 * the page put on the object is reachable.
 */
export interface NetStreamClient {
  onMetaData?(info: { [key: string]: AmfValue }): void;
  onCuePoint?(info: { [key: string]: AmfValue }): void;
  onTextData?(info: { [key: string]: AmfValue }): void;
  onXMPData?(info: { [key: string]: AmfValue }): void;
  onImageData?(info: { [key: string]: AmfValue }): void;
  onSeekPoint?(...args: AmfValue[]): void;
  /**
   * Play.Complete, Play.Switch, Play.TransitionComplete of a recorded stream (also dispatched as
   * netStatus). onPlayStatus travels as a data message, as a publisher's NetStream.send does, so
   * it is taken from the server only with those codes and only while a recorded item plays;
   * any other data named onPlayStatus or onStatus is dropped (never a netStatus, never a call).
   */
  onPlayStatus?(info: NetStatusInfo): void;
  [handler: string]: ((...args: any[]) => void) | undefined;
}

/** NetStreamPlayOptions of play2(). */
export interface NetStreamPlayOptions {
  streamName: string;
  oldStreamName?: string;
  start?: number;
  len?: number;
  offset?: number;
  transition?: 'append' | 'appendAndWait' | 'reset' | 'resume' | 'stop' | 'swap' | 'switch';
  [field: string]: AmfValue;
}

/** A NetStreamInfo-like snapshot. */
export interface NetStreamInfo {
  byteCount: number;
  bufferLength: number;
  videoBufferLength: number;
  audioBufferLength: number;
  currentFPS: number;
  droppedFrames: number;
  decodedFrames: number;
  isLive: boolean;
  metaData: { [key: string]: AmfValue } | null;
  resourceName: string | null;
  uri: string | null;
  playbackRate: number;
  /**
   * Seconds between the arrival of the newest media and its display, measured against the
   * earliest arrival of the session (null before media arrives).
   */
  playbackLatency: number | null;
  SRTT: number;
}

/** How `NetStream.attachMediaStream` encodes what it publishes. */
export interface PublishOptions {
  /**
   * 'h264' (default; sent as legacy AVC tags, which every player reads), 'av1' or 'vp9'
   * (Enhanced RTMP `av01`/`vp09` tags). Audio is always Opus (an `Opus` ExAudioTagHeader).
   */
  videoCodec?: 'h264' | 'av1' | 'vp9';
  /** bits/s; default 1 000 000. */
  videoBitrate?: number;
  /** bits/s; default 96 000. */
  audioBitrate?: number;
  /** Seconds between keyframes; default 2. */
  keyframeInterval?: number;
  /** The encoder's frame rate hint and onMetaData's framerate; default 30. */
  framerate?: number;
}

/**
 * One stream of a NetConnection: plays into a `<video>` through MSE, or publishes.
 *
 * Besides the server's codes, it dispatches the player-made ones as Flash does:
 * NetStream.Buffer.Full / Empty / Flush, NetStream.InvalidArg (seek("abc"), a negative
 * bufferTime), NetStream.Play.FileStructureInvalid (media that cannot be parsed or decoded),
 * NetStream.Play.NoSupportedTrackFound (a track in a codec this browser's MSE cannot play:
 * `details` names the codec's FourCC, e.g. 'hvc1', once per play, and the other track plays
 * on its own; or MSE refuses the init segment's codecs),
 * NetStream.Failed (the stream could not be created: the server refused, gave an id already in
 * use, or the connection has 256 streams already; or more than 32 MiB of media waited for a
 * media element that did not take it; the stream then plays again after a new play() or a
 * seek()).
 * onPlayStatus codes go to `client.onPlayStatus` and are dispatched as netStatus too.
 *
 * Deviations from Flash, because what a publisher sends reaches every viewer: a data message
 * is never a netStatus event (so the FMS-style `onStatus` NetStream.Data.Start data message is
 * not reported), and the stream is not its own client (see `client`).
 */
export class NetStream extends EventTarget {
  static readonly CONNECT_TO_FMS: 'connectToFMS';
  static readonly DIRECT_CONNECTIONS: 'directConnections';

  /** @throws if `connection` is not connected */
  constructor(connection: NetConnection, peerID?: 'connectToFMS');

  /**
   * start: -2 live or recorded (default), -1 live only, >= 0 seconds into a recording;
   * len: -1 to the end, 0 one frame, > 0 seconds; reset false appends to the playlist (the
   * next item follows in the same element at onPlayStatus NetStream.Play.Switch).
   * `play(null)` enters data generation mode (appendBytes); `play(false)` stops.
   */
  play(name: string | null | false, start?: number, len?: number, reset?: boolean): void;
  /**
   * Transitions: 'switch'/'swap' take over at a keyframe (Play.Transition, then onPlayStatus
   * Play.TransitionComplete) without restarting the element; 'reset' is play(name, start, len, true).
   */
  play2(options: NetStreamPlayOptions): void;
  /**
   * type: 'live' (default), 'record', 'append', 'appendWithGap'; `publish(null)` stops.
   * With a MediaStream attached (attachMediaStream), its tracks are encoded and sent from
   * Publish.Start on, with an onMetaData (`@setDataFrame`) naming the FourCCs as strings.
   */
  publish(name?: string | null | false, type?: 'live' | 'record' | 'append' | 'appendWithGap'): void;
  pause(): void;
  /** A recorded stream continues from where it paused; a live one rejoins the live edge. */
  resume(): void;
  togglePause(): void;
  /**
   * The buffer is dropped and playback goes on from the keyframe at or before `offset`
   * (Seek.Notify, Play.Start). A value that is not a finite, non-negative number dispatches
   * NetStream.InvalidArg.
   */
  seek(offset: number | string): void;
  /** Stops playing or publishing; the stream can be used again. */
  close(): void;
  /** close() and deleteStream. */
  dispose(): void;
  receiveAudio(flag: boolean): void;
  receiveVideo(flag: boolean): void;
  /** A data message to subscribers: they get `client[handler](...args)`. */
  send(handler: string, ...args: AmfValue[]): void;
  /** One FLV audio/video tag body while publishing (e.g. from a WebCodecs encoder). */
  sendMedia(kind: 'audio' | 'video', timestamp: number, body: Uint8Array): void;
  /** After play(null): FLV bytes, file header first, in pieces of any size. */
  appendBytes(bytes: Uint8Array | ArrayBuffer): void;
  appendBytesAction(action: 'resetBegin' | 'resetSeek' | 'endSequence'): void;
  /**
   * What to publish: the first video and first audio track of a MediaStream (getUserMedia,
   * canvas.captureStream(), a WebAudio MediaStreamAudioDestinationNode...), encoded with
   * WebCodecs (needs MediaStreamTrackProcessor: Chromium). null stops encoding. An encoder
   * error dispatches NetStream.Failed.
   * @throws RangeError for an unknown videoCodec
   */
  attachMediaStream(stream: MediaStream | null, options?: PublishOptions): void;
  /** Plays into this element (`<video>` or `<audio>`); null detaches. */
  attachMediaElement(element: HTMLMediaElement | null): void;

  /**
   * The object whose own handlers receive data messages and server calls (see
   * NetStreamClient). A handler it lacks raises asyncError, as in Flash. `null` until set;
   * until then data messages are ignored, with no asyncError.
   *
   * Unlike Flash, where the NetStream is its own client by default: a publisher could then
   * run `seek`, `close` or `publish` in every viewer's page by sending data with those names.
   */
  get client(): NetStreamClient | object | null;
  set client(value: NetStreamClient | object);
  /** Seconds buffered before playback starts; for live streams also the latency target. Default 0.1. */
  bufferTime: number;
  /** Live: when more than this is buffered, the playhead catches up; 0 (default) leaves it to bufferTime + 1 s. */
  bufferTimeMax: number;
  readonly bufferLength: number;
  /**
   * Stream time (s) of the picture on screen; after seek() the target until its media arrives.
   * For a recorded stream it is also the element's currentTime (for the first playlist item).
   */
  readonly time: number;
  readonly bytesLoaded: number;
  readonly bytesTotal: number;
  readonly currentFPS: number;
  readonly liveDelay: number;
  readonly objectEncoding: 0 | 3;
  readonly info: NetStreamInfo;

  addEventListener<K extends keyof NetEventMap>(type: K, listener: (this: NetStream, event: NetEventMap[K]) => unknown, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof NetEventMap>(type: K, listener: (this: NetStream, event: NetEventMap[K]) => unknown, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

/** One entry of `SyncEvent.changeList`, as AS3's. */
export interface SyncChange {
  /**
   * 'clear' the local copy was emptied (first sync of a fresh copy, the object was cleared);
   * 'success' this page's change was accepted; 'reject' it lost (the slot holds the server's
   * value, `oldValue` the one this page had set); 'change' another client or the server
   * changed the slot; 'delete' the slot went.
   */
  code: 'clear' | 'success' | 'reject' | 'change' | 'delete';
  /** The slot ('' for clear). */
  name: string;
  /** For change and delete the value before (undefined for a new slot); for reject this page's. */
  oldValue: AmfValue | undefined;
}

/** `sync`: the local copy of a SharedObject changed. */
export class SyncEvent extends Event {
  static readonly SYNC: 'sync';
  constructor(type: string, changeList: SyncChange[]);
  readonly changeList: SyncChange[];
}

export interface SharedObjectEventMap {
  sync: SyncEvent;
  /**
   * SharedObject.UriMismatch (connect() through a NetConnection of another URI, made here),
   * SharedObject.BadPersistence, SharedObject.NoReadAccess, SharedObject.NoWriteAccess,
   * SharedObject.ObjectCreationFailed (from the server).
   */
  netStatus: NetStatusEvent;
  /** A `send` handler missing on `client`, or throwing. */
  asyncError: AsyncErrorEvent;
}

/** AS3's remote SharedObject: slots every subscriber of the application's object sees. */
export class SharedObject extends EventTarget {
  /**
   * The object `name` of the application at `remotePath` (the URI the NetConnection connects
   * to); `persistence` true (or a string) for a persistent one. The same arguments give the
   * same object.
   */
  static getRemote(name: string, remotePath: string, persistence?: boolean | string): SharedObject;
  private constructor();

  /**
   * Subscribes through a connected NetConnection; a `sync` with the server's slots follows.
   * A NetConnection of another URI than remotePath gives netStatus SharedObject.UriMismatch.
   * @throws Error when `nc` is not connected
   */
  connect(nc: NetConnection): void;
  /** Unsubscribes; `data` stays readable. */
  close(): void;
  /** As AS3 does for a remote object: disconnects and empties the local copy (not the server's). */
  clear(): void;
  /**
   * Sets a slot; null or undefined deletes it. `data` shows it at once; the request goes on the
   * next tick or, with `fps`, at most fps times a second, the slots set meanwhile in one request.
   */
  setProperty(name: string, value?: AmfValue | null): void;
  /** Sends a slot again with its current value (an object in it was changed in place). */
  setDirty(name: string): void;
  /** Calls `client[handler](...args)` on every subscriber, this page included. */
  send(handler: string, ...args: AmfValue[]): void;

  /** The slots: a frozen view, kept in sync with the server's copy. */
  readonly data: Readonly<Record<string, AmfValue>>;
  /** Handlers `send` calls: own properties only. `null` until set; then sends are ignored. */
  get client(): object | null;
  set client(value: object);
  /** The NetConnection's objectEncoding, which carries the object's messages. */
  objectEncoding: 0 | 3;
  /** Requests per second at most; Infinity (default) sends each tick, 0 holds changes. */
  fps: number;

  addEventListener<K extends keyof SharedObjectEventMap>(type: K, listener: (this: SharedObject, event: SharedObjectEventMap[K]) => unknown, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof SharedObjectEventMap>(type: K, listener: (this: SharedObject, event: SharedObjectEventMap[K]) => unknown, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}
