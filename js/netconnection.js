// NetConnection: one RTMP connection carried by a WebSocket (ws:// or wss://).

import { Connection } from './wasm/rtmpws_wasm.js';
import { AsyncErrorEvent, IOErrorEvent } from './events.js';
import { INTERNAL, NO_HANDLER, THREW, dispatchStatus, invokeClient, makeInfo } from './internal.js';
import { connectCapabilities, playableFourCcs } from './codecs.js';

/** Flash's own default is AMF3; AMF0 is what every open server handles, so it is ours. */
let defaultObjectEncoding = 0;

/**
 * The flashVer sent in connect. It keeps Flash's "PLATFORM major,minor,build,rev" shape because
 * some servers parse it.
 */
const FLASH_VER = 'LNX 32,0,0,0';

/** Server calls a page rarely handles; Flash would raise asyncError for them, which is noise. */
const QUIET_CALLS = new Set(['onBWDone', 'onBWCheck', 'onFCPublish', 'onFCUnpublish', 'onFCSubscribe']);

/** At most this many ReconnectRequests are followed per minute: a server cannot make us loop. */
const MAX_RECONNECTS_PER_MINUTE = 5;

/**
 * Where a ReconnectRequest sends us: its tcUrl when that is a ws:// or wss:// URL (a browser
 * cannot open rtmp://), else the URI we are connected to.
 */
function reconnectTarget(tcUrl, current) {
  if (typeof tcUrl === 'string' && tcUrl !== '') {
    try {
      const url = new URL(tcUrl);
      if (url.protocol === 'ws:' || url.protocol === 'wss:') {
        return url.href;
      }
    } catch {
      // Not a URL: reconnect to the same place.
    }
  }
  return current;
}

/**
 * `responder.result(...)`/`responder.status(info)` of NetConnection.call. A function stands for
 * a result-only responder.
 */
export class Responder {
  /**
   * @param {(...values: unknown[]) => void} result
   * @param {(info: object) => void} [status]
   */
  constructor(result, status) {
    this.result = result;
    this.status = status;
  }
}

/**
 * The page's address for swfUrl and pageUrl, without its fragment. Browsers never send a
 * fragment to any server (pages keep tokens there: OAuth implicit grants, share links), so
 * the RTMP server does not get it either.
 */
function pageAddress() {
  const href = String(globalThis.location?.href ?? '');
  const hash = href.indexOf('#');
  return hash === -1 ? href : href.slice(0, hash);
}

/** Splits `ws://host:port/app/instance?query` into what connect() sends. */
function parseUri(uri) {
  let url;
  try {
    url = new URL(uri);
  } catch {
    throw new TypeError(`NetConnection.connect: ${uri} is not a URL`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new TypeError(`NetConnection.connect: ${uri} is not a ws:// or wss:// URL`);
  }
  // As Flash derives it from rtmp://host/app/instance: everything after the host, query
  // included (servers split the query off themselves).
  const app = url.pathname.replace(/^\/+/, '') + url.search;
  return { app };
}

/** The package-private side of a NetConnection, used by NetStream. */
class ConnectionCore {
  /** @param {NetConnection} nc */
  constructor(nc) {
    this.nc = nc;
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {Connection | null} */
    this.conn = null;
    /** 'idle' | 'connecting' | 'connected' | 'rejected' | 'closed' */
    this.state = 'idle';
    /** @type {Map<number, import('./netstream.js').NetStream>} */
    this.streams = new Map();
    /** createStream transaction id -> NetStream waiting for its id */
    this.creating = new Map();
    /** call transaction id -> { command, responder } */
    this.calls = new Map();
    this.uri = null;
    this.closedReported = false;
    this.networkListener = null;
    /** The extra connect arguments, sent again when a ReconnectRequest is followed. */
    this.connectArgs = [];
    /** NetStreams to resume once the connection a ReconnectRequest opened succeeds. */
    this.resuming = null;
    /** When the recent ReconnectRequests were followed (ms). */
    this.reconnects = [];
    /** @type {Map<string, import('./sharedobject.js').SharedObject>} connected, by name */
    this.sharedObjects = new Map();
  }

  /** Sends whatever the session has queued. */
  flush() {
    const ws = this.ws;
    if (!this.conn || !ws || ws.readyState !== WebSocket.OPEN) {
      return;
    }
    const bytes = this.conn.takeOutput();
    if (bytes !== undefined) {
      ws.send(bytes);
    }
  }

  /** Runs `fn(conn)` and sends its output; a no-op when the connection is gone. */
  with(fn) {
    if (!this.conn || this.state === 'closed') {
      return undefined;
    }
    const result = fn(this.conn);
    this.flush();
    return result;
  }

  /** @param {import('./netstream.js').NetStream} ns */
  createStream(ns) {
    const transaction = this.with((conn) => conn.createStream());
    if (transaction !== undefined) {
      this.creating.set(transaction, ns);
    }
  }

  open(uri, args) {
    const { app } = parseUri(uri);
    this.uri = uri;
    this.connectArgs = args;
    const commandObject = {
      app,
      flashVer: FLASH_VER,
      swfUrl: pageAddress(),
      tcUrl: uri,
      fpad: false,
      capabilities: 239,
      audioCodecs: 3575,
      videoCodecs: 252,
      videoFunction: 1,
      pageUrl: pageAddress(),
      objectEncoding: this.nc.objectEncoding,
      ...connectCapabilities(),
    };
    this.conn = new Connection();
    this.conn.setPlayable(playableFourCcs());
    this.conn.connect(commandObject, args);
    this.state = 'connecting';
    this.closedReported = false;
    const ws = new WebSocket(uri);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => this.flush();
    ws.onmessage = (event) => this.onMessage(event.data);
    ws.onerror = () => {
      this.nc.dispatchEvent(new IOErrorEvent(IOErrorEvent.IO_ERROR, `WebSocket error on ${uri}`));
    };
    ws.onclose = () => this.onSocketClosed();
  }

  onMessage(data) {
    if (!(data instanceof ArrayBuffer) || !this.conn) {
      return;
    }
    const events = this.conn.receive(new Uint8Array(data));
    this.flush();
    for (const event of events) {
      try {
        this.onEvent(event);
      } catch (error) {
        // One event that could not be handled must not lose the rest of the batch.
        this.nc.dispatchEvent(new AsyncErrorEvent(AsyncErrorEvent.ASYNC_ERROR, error));
      }
      if (!this.conn) {
        break;
      }
    }
  }

  onEvent(event) {
    const nc = this.nc;
    switch (event.type) {
      case 'connected':
        this.state = 'connected';
        if (typeof event.info?.objectEncoding === 'number') {
          nc[INTERNAL].objectEncoding = event.info.objectEncoding;
        }
        this.watchNetwork(true);
        dispatchStatus(nc, event.info);
        this.resume();
        break;
      case 'connectRejected':
        this.state = 'rejected';
        dispatchStatus(nc, event.info);
        break;
      case 'streamCreated': {
        const ns = this.creating.get(event.transactionId);
        this.creating.delete(event.transactionId);
        if (ns) {
          this.streams.set(event.streamId, ns);
          ns[INTERNAL].created(event.streamId);
        }
        break;
      }
      case 'result': {
        const call = this.calls.get(event.transactionId);
        this.calls.delete(event.transactionId);
        if (call) {
          const result = call.responder?.result ?? (typeof call.responder === 'function' ? call.responder : null);
          if (typeof result === 'function') {
            result.apply(call.responder, event.args);
          }
        }
        break;
      }
      case 'callError':
        this.onCallError(event);
        break;
      case 'status':
      case 'playStatus':
      case 'data':
      case 'init':
      case 'media':
      case 'mediaError':
        if (event.streamId === 0 && (event.type === 'status' || event.type === 'data')) {
          this.onConnectionMessage(event);
        } else {
          this.streams.get(event.streamId)?.[INTERNAL].onEvent(event);
        }
        break;
      case 'userControl':
        if (event.streamId !== 0) {
          this.streams.get(event.streamId)?.[INTERNAL].onEvent(event);
        }
        break;
      case 'call':
        if (event.streamId !== 0 && this.streams.has(event.streamId)) {
          this.streams.get(event.streamId)[INTERNAL].onEvent(event);
        } else if (event.name === 'close') {
          // The server asks us to go away (FMS does this on application shutdown).
          this.shutdown(true);
        } else {
          const value = invokeClient(nc, nc.client, event.name, event.args, QUIET_CALLS.has(event.name));
          if (event.transactionId) {
            this.answer(event.transactionId, event.name, value);
          }
        }
        break;
      case 'soSync':
      case 'soMessage':
      case 'soStatus':
        this.sharedObjects.get(event.name)?.[INTERNAL].onEvent(event);
        break;
      case 'protocolError':
        nc.dispatchEvent(new IOErrorEvent(IOErrorEvent.IO_ERROR, event.message));
        this.ws?.close();
        break;
      default:
        break;
    }
  }

  /**
   * Answers a server call that waits for one, as Flash does: `_result` with the handler's
   * return value (a Promise is awaited), `_error` NetConnection.Call.Failed when the client
   * has no such handler, or it threw or its Promise was rejected.
   */
  answer(transaction, name, value) {
    const conn = this.conn;
    const send = (ok, result) => {
      // Only on the connection that asked: a reconnection's session knows nothing of it.
      if (this.conn === conn) {
        this.with((c) =>
          ok
            ? c.answerCall(transaction, result)
            : c.answerCallError(transaction, { level: 'error', code: 'NetConnection.Call.Failed', description: result }),
        );
      }
    };
    if (value === NO_HANDLER) {
      send(false, `Method not found (${name}).`);
    } else if (value === THREW) {
      send(false, `Method ${name} failed.`);
    } else if (typeof value?.then === 'function') {
      Promise.resolve(value).then(
        (result) => send(true, result),
        (error) => send(false, `Method ${name} failed: ${error?.message ?? String(error)}`),
      );
    } else {
      send(true, value);
    }
  }

  /**
   * onStatus commands on stream 0 (NetConnection codes: IdleTimeOut, AppShutdown, ...), or
   * data for the client. Data never becomes a status: the wasm side drops data named
   * onStatus/onPlayStatus.
   */
  onConnectionMessage(event) {
    if (event.type === 'data') {
      invokeClient(this.nc, this.nc.client, event.name, event.args ?? []);
      return;
    }
    const info = event.info;
    if (info && typeof info === 'object') {
      if (info.code === 'NetConnection.Connect.Closed') {
        this.closedReported = true;
      }
      dispatchStatus(this.nc, info);
      if (info.code === 'NetConnection.Connect.ReconnectRequest') {
        this.reconnect(info.tcUrl);
      }
    }
  }

  /**
   * Follows a ReconnectRequest (Enhanced RTMP): the old connection goes without a
   * Connect.Closed, a new one opens to `tcUrl` (or the same URI) with the same connect
   * arguments, and once it succeeds every stream that was playing or publishing starts
   * again on it (live streams at the live edge). The page sees the request, then
   * Connect.Success, then each stream's own statuses (Play.Reset, Play.Start...).
   */
  reconnect(tcUrl) {
    if (this.state !== 'connected') {
      return;
    }
    const now = performance.now();
    this.reconnects = this.reconnects.filter((t) => now - t < 60_000);
    if (this.reconnects.length >= MAX_RECONNECTS_PER_MINUTE) {
      return;
    }
    this.reconnects.push(now);
    const target = reconnectTarget(tcUrl, this.uri);
    const streams = [...this.streams.values(), ...this.creating.values()];
    this.streams.clear();
    this.creating.clear();
    for (const ns of streams) {
      ns[INTERNAL].detach();
    }
    // The streams are not told: they carry on with what they buffered meanwhile.
    this.teardown();
    this.resuming = streams;
    this.open(target, this.connectArgs);
  }

  /** After the Connect.Success of a reconnection: the streams start again. */
  resume() {
    const streams = this.resuming;
    this.resuming = null;
    for (const ns of streams ?? []) {
      ns[INTERNAL].reattach();
    }
  }

  onCallError(event) {
    const info = event.args?.[0];
    const creating = this.creating.get(event.transactionId);
    if (creating) {
      this.creating.delete(event.transactionId);
      creating[INTERNAL].createFailed(info);
      return;
    }
    const call = this.calls.get(event.transactionId);
    this.calls.delete(event.transactionId);
    const statusInfo =
      info && typeof info === 'object' && typeof info.code === 'string'
        ? info
        : makeInfo('NetConnection.Call.Failed', call?.command ?? '');
    const status = call?.responder?.status;
    if (typeof status === 'function') {
      status.call(call.responder, statusInfo);
    }
    dispatchStatus(this.nc, statusInfo);
  }

  watchNetwork(on) {
    if (typeof globalThis.addEventListener !== 'function') {
      return;
    }
    if (on && !this.networkListener) {
      this.networkListener = () => {
        if (this.state === 'connected') {
          dispatchStatus(this.nc, makeInfo('NetConnection.Connect.NetworkChange'));
        }
      };
      globalThis.addEventListener('online', this.networkListener);
      globalThis.addEventListener('offline', this.networkListener);
    } else if (!on && this.networkListener) {
      globalThis.removeEventListener('online', this.networkListener);
      globalThis.removeEventListener('offline', this.networkListener);
      this.networkListener = null;
    }
  }

  onSocketClosed() {
    const previous = this.state;
    this.teardown();
    if (previous === 'connecting') {
      dispatchStatus(this.nc, makeInfo('NetConnection.Connect.Failed', '', `Connection to ${this.uri} failed.`));
    } else if ((previous === 'connected' || previous === 'rejected') && !this.closedReported) {
      // Flash follows Connect.Rejected with Connect.Closed too.
      dispatchStatus(this.nc, makeInfo('NetConnection.Connect.Closed'));
    }
  }

  /** Closes on our side (close(), or the server's `close` call). */
  shutdown(report) {
    const previous = this.state;
    this.teardown();
    if (report && (previous === 'connected' || previous === 'rejected')) {
      // Asynchronously, as Flash does: the page's close() call returns first.
      queueMicrotask(() => dispatchStatus(this.nc, makeInfo('NetConnection.Connect.Closed')));
    }
  }

  teardown() {
    this.state = 'closed';
    this.watchNetwork(false);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) {
        ws.close();
      }
    }
    for (const ns of this.streams.values()) {
      ns[INTERNAL].connectionClosed();
    }
    for (const ns of this.creating.values()) {
      ns[INTERNAL].connectionClosed();
    }
    // A reconnection that failed: the streams it was to resume end too.
    for (const ns of this.resuming ?? []) {
      ns[INTERNAL].connectionClosed();
    }
    this.resuming = null;
    this.streams.clear();
    this.creating.clear();
    this.calls.clear();
    for (const so of this.sharedObjects.values()) {
      so[INTERNAL].connectionClosed();
    }
    this.sharedObjects.clear();
    this.conn?.free();
    this.conn = null;
  }
}

/**
 * ActionScript's NetConnection over RTMP-in-WebSocket.
 *
 * Events: `netStatus` (NetStatusEvent), `ioError` (IOErrorEvent), `asyncError` (AsyncErrorEvent).
 */
export class NetConnection extends EventTarget {
  static get defaultObjectEncoding() {
    return defaultObjectEncoding;
  }

  static set defaultObjectEncoding(value) {
    if (value !== 0 && value !== 3) {
      throw new RangeError('objectEncoding must be 0 or 3');
    }
    defaultObjectEncoding = value;
  }

  #core = new ConnectionCore(this);
  /** @type {object | null} */
  #client = null;
  #objectEncoding = defaultObjectEncoding;

  constructor() {
    super();
    const self = this;
    Object.defineProperty(this, INTERNAL, {
      value: {
        core: this.#core,
        set objectEncoding(value) {
          self.#objectEncoding = value;
        },
      },
    });
  }

  /**
   * Opens `ws://host:port/app[/instance]` (or wss://). The app is the path after the host and
   * tcUrl the URL itself, as Flash derives them from rtmp:// URLs. `args` follow the command
   * object in the connect command. `connect(null)` enters Flash's local mode (no server; for
   * NetStream.appendBytes).
   * @param {string | null} uri
   * @param {...unknown} args
   */
  connect(uri, ...args) {
    const core = this.#core;
    if (core.state !== 'idle' && core.state !== 'closed') {
      core.shutdown(false);
    }
    if (uri === null || uri === undefined) {
      core.state = 'local';
      core.uri = 'null';
      queueMicrotask(() => dispatchStatus(this, makeInfo('NetConnection.Connect.Success')));
      return;
    }
    core.open(String(uri), args);
  }

  /**
   * Calls a server method. `responder` gets `result(...values)` for `_result` and
   * `status(info)` for `_error` (which also dispatches netStatus, e.g. NetConnection.Call.Failed).
   * @param {string} command
   * @param {Responder | {result?: Function, status?: Function} | Function | null} responder
   * @param {...unknown} args
   */
  call(command, responder, ...args) {
    const core = this.#core;
    const transaction = core.with((conn) => conn.call(String(command), args));
    if (transaction !== undefined && responder) {
      core.calls.set(transaction, { command: String(command), responder });
    }
  }

  /** Closes the connection; `netStatus` NetConnection.Connect.Closed follows. */
  close() {
    this.#core.shutdown(true);
  }

  /** True between Connect.Success and the close. */
  get connected() {
    return this.#core.state === 'connected' || this.#core.state === 'local';
  }

  /** The URI given to connect() ("null" in local mode). */
  get uri() {
    return this.#core.uri;
  }

  /**
   * Object whose own methods the server may call (onBWDone, ...). None until the page sets
   * one: unlike Flash, the NetConnection is not its own client, so no server can call its
   * methods (close, call, connect...).
   */
  get client() {
    return this.#client;
  }

  set client(value) {
    if (value === null || value === undefined) {
      throw new TypeError('NetConnection.client cannot be null');
    }
    this.#client = value;
  }

  /** 0 (AMF0) or 3 (AMF3); settable before connect(). */
  get objectEncoding() {
    return this.#objectEncoding;
  }

  set objectEncoding(value) {
    if (this.connected) {
      throw new Error('objectEncoding cannot change while connected');
    }
    if (value !== 0 && value !== 3) {
      throw new RangeError('objectEncoding must be 0 or 3');
    }
    this.#objectEncoding = value;
  }

  /** "rtmp" over ws://, "rtmps" over wss://. */
  get protocol() {
    return this.#core.uri?.startsWith('wss:') ? 'rtmps' : 'rtmp';
  }

  get usingTLS() {
    return this.#core.uri?.startsWith('wss:') ?? false;
  }

  get connectedProxyType() {
    return 'none';
  }
}
