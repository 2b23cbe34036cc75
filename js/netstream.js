// NetStream: one RTMP message stream of a NetConnection, played into a media element.

import { Player } from './wasm/rtmpws_wasm.js';
import { MediaSink } from './mediasink.js';
import { NetConnection } from './netconnection.js';
import { INTERNAL, dispatchStatus, invokeClient, makeInfo } from './internal.js';
import { Publisher } from './publisher.js';

/** Flash's default bufferTime for live streams (s). */
const DEFAULT_BUFFER_TIME = 0.1;

/** Data handlers the player consumes itself; Flash never hands them to `client`. */
const INTERNAL_HANDLERS = new Set(['|RtmpSampleAccess', '@setDataFrame', '@clearDataFrame']);

/** What the server answers a seek with; hidden when the player seeks on its own. */
const QUIET_SEEK_CODES = ['NetStream.Seek.Notify', 'NetStream.Play.Start'];

/** The package-private side of a NetStream. */
class StreamCore {
  /**
   * @param {NetStream} ns
   * @param {NetConnection} nc
   */
  constructor(ns, nc) {
    this.ns = ns;
    this.nc = nc;
    this.connection = nc[INTERNAL].core;
    /** @type {number | null} */
    this.id = null;
    /** Commands waiting for createStream's answer. */
    this.pending = [];
    this.closed = false;
    /** 'idle' | 'play' | 'publish' | 'local' */
    this.mode = 'idle';
    this.name = null;
    this.bufferTime = DEFAULT_BUFFER_TIME;
    this.bufferTimeMax = 0;
    /** @type {HTMLMediaElement | null} */
    this.element = null;
    /** @type {MediaSink | null} */
    this.sink = null;
    /** The newest init event, so an element attached mid-stream can start. */
    this.lastInit = null;
    this.metaData = null;
    this.live = true;
    this.audio = true;
    this.video = true;
    this.userPaused = false;
    /** ns.time when resume() was called: a recorded stream continues from there. */
    this.resumeAt = null;
    /** The offset of the last seek() sent, reported as ns.time until its media arrives. */
    this.seekTarget = null;
    /**
     * A seek the player sent itself (receiveAudio/receiveVideo on a recorded stream): where
     * to, and which of its statuses are still to come. @type {{at: number, codes: Set<string>} | null}
     */
    this.quietSeek = null;
    /** For appendBytes (Flash's data generation mode). @type {Player | null} */
    this.player = null;
    this.playCalledAt = 0;
    /** Latency samples: wall clock (ms) minus stream time (ms) of arriving media. */
    this.arrivalOffset = null;
    /** start and len of the last play(), to play again after a reconnection. */
    this.playArgs = { start: -2, len: -1 };
    /** The publish type, for the same reason. */
    this.publishType = 'live';
    /** What attachMediaStream gave: @type {{stream: MediaStream, options: object} | null} */
    this.source = null;
    /** Encoding while publishing. @type {Publisher | null} */
    this.publisher = null;
    /** Publish.Start came, and no stop since. */
    this.publishing = false;
  }

  /** Starts encoding the attached MediaStream (after Publish.Start). */
  startPublisher() {
    this.publisher?.stop();
    this.publisher = null;
    if (!this.source || this.mode !== 'publish') {
      return;
    }
    const send = {
      video: (ts, codec, packet, key, cts, data) =>
        this.whenCreated((conn, id) => conn.sendVideoTag(id, ts, codec, packet, key, cts, data)),
      audio: (ts, codec, packet, data) => this.whenCreated((conn, id) => conn.sendAudioTag(id, ts, codec, packet, data)),
      data: (values) => this.whenCreated((conn, id) => conn.sendData(id, 0, values)),
      error: (error) => this.status('NetStream.Failed', `Encoding failed: ${error?.message ?? error}`),
    };
    this.publisher = new Publisher(this.source.stream, this.source.options, send);
    this.publisher.start();
  }

  stopPublisher() {
    this.publishing = false;
    this.publisher?.stop();
    this.publisher = null;
  }

  /** A ReconnectRequest is being followed: this stream's id belonged to the old connection. */
  detach() {
    this.stopPublisher();
    this.id = null;
    this.pending = [];
  }

  /** The new connection is up: the stream is made again and plays (or publishes) as before. */
  reattach() {
    if (this.closed) {
      return;
    }
    const mode = this.mode;
    this.connection.createStream(this.ns);
    if (mode === 'play') {
      // Live: the same start (-2/-1) rejoins at the live edge; recorded: from the playhead.
      const start = this.live ? this.playArgs.start : Math.max(0, this.ns.time);
      this.ns.play(this.name, start, this.playArgs.len, true);
    } else if (mode === 'publish') {
      this.ns.publish(this.name, this.publishType);
    }
  }

  /** Runs `fn(conn, id)` now if the stream exists, else once createStream answers. */
  whenCreated(fn) {
    if (this.closed) {
      return;
    }
    if (this.id !== null) {
      this.connection.with((conn) => fn(conn, this.id));
    } else {
      this.pending.push(fn);
    }
  }

  created(id) {
    this.id = id;
    const pending = this.pending;
    this.pending = [];
    for (const fn of pending) {
      this.connection.with((conn) => fn(conn, id));
    }
  }

  createFailed(info) {
    this.pending = [];
    dispatchStatus(this.ns, info && typeof info === 'object' && info.code ? info : makeInfo('NetStream.Failed', ''));
  }

  connectionClosed() {
    this.closed = true;
    this.pending = [];
    this.stopPublisher();
    if (this.sink) {
      this.sink.end();
    }
  }

  status(code, description) {
    dispatchStatus(this.ns, makeInfo(code, this.name ?? '', description));
  }

  /** A MediaSink on the attached element, created on demand. */
  ensureSink() {
    if (!this.element) {
      return null;
    }
    if (!this.sink) {
      this.sink = new MediaSink(this.element, {
        status: (code, description) => this.status(code, description),
      });
      this.sink.bufferTime = this.bufferTime;
      this.sink.bufferTimeMax = this.bufferTimeMax;
      this.sink.live = this.live;
    }
    return this.sink;
  }

  /**
   * Starts the element over (new play, seek, resume of a recorded stream, a new track set): a
   * fresh MediaSource, which begins with the last init segment (the remuxer repeats one only
   * when the codecs change). `options` as for MediaSink.open.
   * @param {{position?: number | null, exact?: boolean, quiet?: boolean}} [options]
   */
  restartSink(options) {
    if (this.sink) {
      this.sink.userPaused = this.userPaused;
      this.sink.live = this.live;
      this.sink.open(options);
    }
  }

  onEvent(event) {
    switch (event.type) {
      case 'status':
        this.onStatus(event.info);
        break;
      case 'playStatus':
        // Flash calls client.onPlayStatus only; rtmpws also dispatches netStatus so pages can
        // follow every code with one listener.
        if (event.info?.code === 'NetStream.Play.Complete') {
          this.sink?.end();
        } else if (typeof event.info?.details === 'string' && event.info.details !== '') {
          // Play.Switch, Play.TransitionComplete: the item now playing.
          this.name = event.info.details;
        }
        invokeClient(this.ns, this.ns.client, 'onPlayStatus', [event.info], true);
        dispatchStatus(this.ns, event.info);
        break;
      case 'data':
        this.onData(event);
        break;
      case 'call':
        // A command on the stream (e.g. onFCSubscribe): the client may have it.
        invokeClient(this.ns, this.ns.client, event.name, event.args, true);
        break;
      case 'init':
        this.lastInit = event;
        this.ensureSink()?.init(event);
        break;
      case 'media':
        this.noteArrival(event);
        this.ensureSink()?.media(event);
        break;
      case 'mediaError':
        dispatchStatus(this.ns, event.info);
        break;
      case 'userControl':
        if (event.event === 'streamIsRecorded') {
          this.live = false;
          if (this.sink) {
            this.sink.live = false;
          }
        }
        break;
      default:
        break;
    }
  }

  /**
   * The statuses of a seek the player made itself (see receiveVideo): handled here, not
   * reported. Returns true if `info` was one of them.
   */
  swallowQuietSeek(info) {
    const quiet = this.quietSeek;
    if (!quiet) {
      return false;
    }
    if (info.code === 'NetStream.Seek.Failed') {
      // Nothing to send again (the item ended meanwhile): the page did not seek.
      this.quietSeek = null;
      return true;
    }
    if (!quiet.codes.has(info.code)) {
      return false;
    }
    quiet.codes.delete(info.code);
    if (info.code === 'NetStream.Seek.Notify') {
      this.restartSink({ position: quiet.at, exact: true, quiet: true });
    }
    if (quiet.codes.size === 0) {
      this.quietSeek = null;
    }
    return true;
  }

  onStatus(info) {
    if (!info || typeof info !== 'object') {
      return;
    }
    if (this.swallowQuietSeek(info)) {
      return;
    }
    switch (info.code) {
      case 'NetStream.Seek.Notify':
        // The buffer is thrown away and the new media starts a new MediaSource; until it
        // arrives, ns.time says where the seek went.
        this.restartSink({ position: this.seekTarget });
        this.seekTarget = null;
        break;
      case 'NetStream.Unpause.Notify':
        // A recorded stream resumes from the keyframe before the playhead: start over, as for
        // a seek (the wasm side started a new timeline in step), and show it from where it
        // paused. One that already ended (Play.Stop while paused) plays out what it has.
        if (!this.live && !this.sink?.ended) {
          this.restartSink({ position: this.resumeAt, exact: true });
        }
        break;
      case 'NetStream.Play.Start':
      case 'NetStream.Play.Switch':
      case 'NetStream.Play.TransitionComplete':
        // The item now playing (a playlist moved on, a play2 transition took over).
        if (typeof info.details === 'string' && info.details !== '') {
          this.name = info.details;
        }
        break;
      case 'NetStream.Play.Stop':
      case 'NetStream.Play.UnpublishNotify':
        this.sink?.end();
        break;
      case 'NetStream.Publish.Start':
        if (this.mode === 'publish') {
          this.publishing = true;
          this.startPublisher();
        }
        break;
      case 'NetStream.Publish.BadName':
      case 'NetStream.Unpublish.Success':
      case 'NetStream.Record.NoAccess':
      case 'NetStream.Record.Failed':
      case 'NetStream.Record.DiskQuotaExceeded':
        this.stopPublisher();
        break;
      default:
        break;
    }
    dispatchStatus(this.ns, info);
  }

  /**
   * A data message: for the page's client only. Data named onStatus/onPlayStatus never gets
   * here (the wasm side drops it, and passes the server's own onPlayStatus as `playStatus`):
   * a publisher's data reaches viewers the same way, so it can never be a status.
   */
  onData(event) {
    const name = event.name;
    if (typeof name !== 'string' || INTERNAL_HANDLERS.has(name)) {
      return;
    }
    if (name === 'onMetaData') {
      this.metaData = event.args?.[0] ?? null;
    }
    invokeClient(this.ns, this.ns.client, name, event.args ?? []);
  }

  /** Keeps the smallest (wall clock - stream time) seen: the arrival offset of live media. */
  noteArrival(event) {
    if (typeof event.newestMs !== 'number') {
      return;
    }
    const offset = performance.now() - event.newestMs;
    if (this.arrivalOffset === null || offset < this.arrivalOffset) {
      this.arrivalOffset = offset;
    }
  }

  /** Feeds remuxer events from appendBytes into the sink. */
  drainPlayer() {
    if (!this.player) {
      return;
    }
    for (const event of this.player.poll()) {
      this.onEvent(event);
    }
  }
}

/**
 * ActionScript's NetStream: play a stream of a NetConnection into a `<video>` (or publish one).
 *
 * Events: `netStatus` (NetStatusEvent) and `asyncError` (AsyncErrorEvent).
 */
export class NetStream extends EventTarget {
  static CONNECT_TO_FMS = 'connectToFMS';
  static DIRECT_CONNECTIONS = 'directConnections';

  #core;
  /** @type {object | null} */
  #client = null;

  /**
   * @param {NetConnection} connection a connected NetConnection
   * @param {string} [peerID] only 'connectToFMS' (RTMFP peer streams do not exist here)
   */
  constructor(connection, peerID = NetStream.CONNECT_TO_FMS) {
    super();
    if (!(connection instanceof NetConnection)) {
      throw new TypeError('NetStream needs a NetConnection');
    }
    if (!connection.connected) {
      throw new Error('NetStream: the NetConnection is not connected');
    }
    if (peerID !== NetStream.CONNECT_TO_FMS) {
      throw new RangeError('NetStream: only connectToFMS streams are supported');
    }
    this.#core = new StreamCore(this, connection);
    Object.defineProperty(this, INTERNAL, { value: this.#core });
    if (connection.uri === 'null') {
      this.#core.mode = 'local';
    } else {
      this.#core.connection.createStream(this);
    }
  }

  /**
   * Plays `name`: start -2 (live, else recorded), -1 (live only) or seconds into a recording;
   * len -1 (to the end), 0 (one frame) or seconds; reset false appends to the playlist.
   * `play(null)` enters data generation mode (appendBytes); `play(false)` stops.
   */
  play(name, start = -2, len = -1, reset = true) {
    const core = this.#core;
    if (name === false) {
      this.close();
      return;
    }
    // Data generation mode: play(null), or any play on a NetConnection connected to null.
    if (name === null || core.nc.uri === 'null') {
      core.mode = 'local';
      core.player?.free();
      core.player = new Player();
      core.live = false;
      core.restartSink();
      core.ensureSink();
      return;
    }
    const item = String(name);
    const resetFlag = reset !== false && reset !== 0 && reset !== 'false';
    if (resetFlag || core.mode !== 'play') {
      // A queued item (reset false while playing) becomes the name when it starts.
      core.name = item;
      core.userPaused = false;
    }
    core.mode = 'play';
    core.playArgs = { start: Number(start), len: Number(len) };
    core.playCalledAt = performance.now();
    core.arrivalOffset = null;
    if (resetFlag) {
      core.seekTarget = null;
      core.resumeAt = null;
      core.live = true;
      core.metaData = null;
      core.restartSink();
      // With an element attached, open its MediaSource now: sourceopen then overlaps the
      // play round trips instead of following the first segment.
      if (core.ensureSink()) {
        core.sink.live = true;
        core.sink.userPaused = false;
      }
    }
    core.whenCreated((conn, id) => {
      conn.enableMedia(id, true);
      conn.play(id, item, Number(start), Number(len), resetFlag);
      conn.setBufferLength(id, Math.round(core.bufferTime * 1000));
    });
  }

  /**
   * play2(NetStreamPlayOptions): `{streamName, oldStreamName, start, len, offset, transition}`.
   * @param {object} options
   */
  play2(options) {
    const core = this.#core;
    const copy = { ...options };
    const reset = copy.transition === 'reset';
    if (copy.streamName !== undefined && (reset || core.mode !== 'play')) {
      // Otherwise the name changes when the new stream takes over (Play.Start, Play.Switch,
      // Play.TransitionComplete).
      core.name = String(copy.streamName);
    }
    if (reset && core.mode === 'play') {
      // As play(name, start, len, true): what is buffered goes, the new stream starts over.
      core.userPaused = false;
      core.seekTarget = null;
      core.resumeAt = null;
      core.live = true;
      core.metaData = null;
      core.restartSink();
    }
    core.mode = 'play';
    core.whenCreated((conn, id) => {
      conn.enableMedia(id, true);
      if (reset) {
        conn.resetMedia(id);
      }
      conn.streamCommand(id, 'play2', [copy]);
    });
  }

  /**
   * Publishes under `name`; type is 'live' (default), 'record', 'append' or 'appendWithGap'.
   * `publish(null)` / `publish(false)` stops publishing.
   */
  publish(name = null, type = 'live') {
    const core = this.#core;
    if (name === null || name === false || name === undefined) {
      if (core.mode === 'publish') {
        core.stopPublisher();
        core.whenCreated((conn, id) => conn.closeStream(id));
        core.mode = 'idle';
      }
      return;
    }
    core.stopPublisher();
    core.mode = 'publish';
    core.name = String(name);
    core.publishType = String(type);
    core.whenCreated((conn, id) => conn.publish(id, core.name, String(type)));
  }

  /** Pauses playback and asks the server to stop sending. */
  pause() {
    this.#setPaused(true);
  }

  /** Resumes a paused stream (live streams rejoin at the live edge). */
  resume() {
    this.#setPaused(false);
  }

  togglePause() {
    this.#setPaused(!this.#core.userPaused);
  }

  #setPaused(paused) {
    const core = this.#core;
    if (core.mode !== 'play' || core.userPaused === paused) {
      return;
    }
    const time = this.time;
    core.userPaused = paused;
    if (!paused) {
      core.resumeAt = time;
    }
    if (core.sink) {
      core.sink.userPaused = paused;
      if (paused) {
        core.element?.pause();
      } else if (core.live || core.sink.ended) {
        core.sink.internalPause = true;
        core.sink.start();
      }
      // A recorded stream that is still being sent starts over at Unpause.Notify, from where
      // it paused; playing what is buffered until then would only be rewound.
    }
    const ms = Math.round(time * 1000);
    core.whenCreated((conn, id) => conn.streamCommand(id, 'pause', [paused, ms]));
  }

  /**
   * Seeks to `offset` seconds. A value that is not a finite, non-negative number dispatches
   * NetStream.InvalidArg, as Flash does.
   */
  seek(offset) {
    const core = this.#core;
    const seconds = typeof offset === 'number' || typeof offset === 'string' ? Number(offset) : NaN;
    if ((typeof offset === 'string' && offset.trim() === '') || !Number.isFinite(seconds) || seconds < 0) {
      queueMicrotask(() => core.status('NetStream.InvalidArg', `Invalid seek offset: ${String(offset)}.`));
      return;
    }
    core.seekTarget = seconds;
    core.quietSeek = null;
    core.whenCreated((conn, id) => conn.streamCommand(id, 'seek', [Math.round(seconds * 1000)]));
  }

  /**
   * The camera, microphone, canvas or WebAudio stream to publish (Flash's attachCamera and
   * attachAudio in one): its first video and first audio track are encoded with WebCodecs
   * once publish() is answered with Publish.Start. `options.videoCodec` is 'h264' (default),
   * 'av1' or 'vp9'; audio is Opus. null detaches (and stops encoding).
   * @param {MediaStream | null} stream
   * @param {object} [options] see index.d.ts (PublishOptions)
   */
  attachMediaStream(stream, options = {}) {
    const core = this.#core;
    const codec = String(options?.videoCodec ?? 'h264').toLowerCase();
    if (!['h264', 'av1', 'vp9'].includes(codec)) {
      throw new RangeError(`NetStream.attachMediaStream: videoCodec must be 'h264', 'av1' or 'vp9', not ${codec}`);
    }
    const publishing = core.publishing;
    core.stopPublisher();
    core.source = stream ? { stream, options: { ...options } } : null;
    if (core.source && core.mode === 'publish' && publishing) {
      core.publishing = true;
      core.startPublisher();
    }
  }

  /** Stops playing or publishing; the stream can play again. */
  close() {
    const core = this.#core;
    core.stopPublisher();
    if (core.mode === 'play' || core.mode === 'publish') {
      core.whenCreated((conn, id) => {
        conn.closeStream(id);
        conn.resetMedia(id);
        conn.enableMedia(id, false);
      });
    }
    core.mode = 'idle';
    core.userPaused = false;
    core.player?.free();
    core.player = null;
    core.lastInit = null;
    if (core.sink) {
      core.sink.destroy();
      core.sink = null;
    }
  }

  /** close() and deleteStream: the stream cannot be used again. */
  dispose() {
    this.close();
    const core = this.#core;
    core.whenCreated((conn, id) => conn.deleteStream(id));
    core.closed = true;
  }

  /** Asks the server to send (true) or stop sending (false) audio. */
  receiveAudio(flag) {
    this.#receive('receiveAudio', Boolean(flag));
  }

  /** Asks the server to send (true) or stop sending (false) video. */
  receiveVideo(flag) {
    this.#receive('receiveVideo', Boolean(flag));
  }

  #receive(command, flag) {
    const core = this.#core;
    const key = command === 'receiveAudio' ? 'audio' : 'video';
    const changed = core[key] !== flag;
    core[key] = flag;
    core.whenCreated((conn, id) => {
      conn.streamCommand(id, command, [flag]);
      if (!changed || core.mode !== 'play') {
        return;
      }
      // The SourceBuffer's track set changes: a new timeline into a new MediaSource, which the
      // page need not hear about (no second Buffer.Full).
      conn.expectTracks(id, core.audio, core.video);
      if (core.live) {
        // Live goes on at the live edge.
        conn.resetMedia(id);
        core.restartSink({ position: this.time, quiet: true });
      } else if (!core.sink?.ended) {
        // A recorded stream: what the server sent ahead (its lead) would be lost with the old
        // MediaSource, so ask for the media again from the playhead with a seek the page does
        // not hear about. Its Seek.Notify is the boundary where the new track set starts.
        core.quietSeek = { at: this.time, codes: new Set(QUIET_SEEK_CODES) };
        conn.streamCommand(id, 'seek', [Math.round(this.time * 1000)]);
      }
    });
  }

  /**
   * Sends a data message on a publishing stream; subscribers get `client[handler](...args)`.
   * @param {string} handler
   * @param {...unknown} args
   */
  send(handler, ...args) {
    this.#core.whenCreated((conn, id) => conn.sendData(id, 0, [String(handler), ...args]));
  }

  /**
   * Sends one FLV audio or video tag body while publishing (for encoders such as WebCodecs).
   * @param {'audio' | 'video'} kind
   * @param {number} timestamp milliseconds
   * @param {Uint8Array} body
   */
  sendMedia(kind, timestamp, body) {
    this.#core.whenCreated((conn, id) => conn.sendMedia(id, timestamp >>> 0, kind === 'video', body));
  }

  /**
   * Data generation mode (after play(null)): FLV bytes, file header first.
   * @param {Uint8Array | ArrayBuffer} bytes
   */
  appendBytes(bytes) {
    const core = this.#core;
    if (!core.player) {
      throw new Error('NetStream.appendBytes needs play(null) first');
    }
    core.player.pushFlv(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
    core.drainPlayer();
  }

  /**
   * 'resetBegin' / 'resetSeek' start a new timeline; 'endSequence' writes out what is held.
   * @param {string} action
   */
  appendBytesAction(action) {
    const core = this.#core;
    if (!core.player) {
      return;
    }
    if (action === 'resetBegin' || action === 'resetSeek') {
      core.player.reset();
      if (action === 'resetBegin') {
        core.restartSink();
      }
    } else if (action === 'endSequence') {
      core.player.end();
      core.drainPlayer();
      core.sink?.end();
    }
  }

  /**
   * Plays the stream into `element` (a `<video>` or `<audio>`); null detaches.
   * @param {HTMLMediaElement | null} element
   */
  attachMediaElement(element) {
    const core = this.#core;
    if (core.element === element) {
      return;
    }
    core.sink?.destroy();
    core.sink = null;
    core.element = element ?? null;
    if (core.element && (core.mode === 'play' || core.mode === 'local')) {
      const sink = core.ensureSink();
      if (core.lastInit) {
        sink.init(core.lastInit);
      }
    }
  }

  /**
   * Object whose own methods receive onMetaData, onCuePoint, onPlayStatus and NetStream.send
   * handlers. None until the page sets one: unlike Flash, the stream is not its own client,
   * since a publisher names the handlers and must not reach seek, close or publish.
   */
  get client() {
    return this.#client;
  }

  set client(value) {
    if (value === null || value === undefined) {
      throw new TypeError('NetStream.client cannot be null');
    }
    this.#client = value;
  }

  /** Seconds to buffer before playing (live: also the latency target). Negative: InvalidArg. */
  get bufferTime() {
    return this.#core.bufferTime;
  }

  set bufferTime(value) {
    const core = this.#core;
    const seconds = Number(value);
    if (!Number.isFinite(seconds) || seconds < 0) {
      queueMicrotask(() => core.status('NetStream.InvalidArg', `Invalid bufferTime: ${String(value)}.`));
      return;
    }
    core.bufferTime = seconds;
    if (core.sink) {
      core.sink.bufferTime = seconds;
    }
    if (core.id !== null && core.mode === 'play') {
      core.connection.with((conn) => conn.setBufferLength(core.id, Math.round(seconds * 1000)));
    }
  }

  /** Live: buffered media beyond this (s) is skipped by speeding up; 0 disables. */
  get bufferTimeMax() {
    return this.#core.bufferTimeMax;
  }

  set bufferTimeMax(value) {
    const core = this.#core;
    const seconds = Number(value);
    if (!Number.isFinite(seconds) || seconds < 0) {
      queueMicrotask(() => core.status('NetStream.InvalidArg', `Invalid bufferTimeMax: ${String(value)}.`));
      return;
    }
    core.bufferTimeMax = seconds;
    if (core.sink) {
      core.sink.bufferTimeMax = seconds;
    }
  }

  /** Seconds of media buffered ahead of the playhead. */
  get bufferLength() {
    return this.#core.sink?.ahead() ?? 0;
  }

  /** The playhead in stream time (s): the timestamp of what is on screen. */
  get time() {
    return this.#core.sink?.streamTime() ?? 0;
  }

  /** Audio, video and data bytes received on this stream. */
  get bytesLoaded() {
    const core = this.#core;
    if (core.id === null) {
      return 0;
    }
    return core.connection.conn?.bytesLoaded(core.id) ?? 0;
  }

  /** 0: a live stream has no total. */
  get bytesTotal() {
    return 0;
  }

  /** Frames per second being displayed. */
  get currentFPS() {
    return this.#core.sink?.fps ?? 0;
  }

  /** Live: seconds of media buffered ahead of the playhead (the delay to the live edge). */
  get liveDelay() {
    return this.#core.live ? this.bufferLength : 0;
  }

  get objectEncoding() {
    return this.#core.nc.objectEncoding;
  }

  /** A NetStreamInfo-like snapshot. */
  get info() {
    const core = this.#core;
    const element = core.element;
    const quality = element?.getVideoPlaybackQuality?.();
    const arrival = core.arrivalOffset;
    const now = performance.now();
    return {
      byteCount: this.bytesLoaded,
      bufferLength: this.bufferLength,
      videoBufferLength: this.bufferLength,
      audioBufferLength: this.bufferLength,
      currentFPS: this.currentFPS,
      droppedFrames: quality?.droppedVideoFrames ?? 0,
      decodedFrames: quality?.totalVideoFrames ?? 0,
      isLive: core.live,
      metaData: core.metaData,
      resourceName: core.name,
      uri: core.nc.uri,
      playbackRate: element?.playbackRate ?? 1,
      // Wall clock minus stream time of the playhead, relative to the earliest arrival: how
      // far behind the newest media the picture is (s).
      playbackLatency: arrival === null || !core.sink ? null : (now - arrival) / 1000 - this.time,
      SRTT: 0,
    };
  }
}
