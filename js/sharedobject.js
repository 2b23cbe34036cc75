// SharedObject: ActionScript's remote shared object over a NetConnection. The session in wasm
// keeps the local copy and tells changes apart (success, reject, change, delete, clear).

import { INTERNAL, dispatchStatus, invokeClient } from './internal.js';

/** `sync`: `changeList` is `[{code, name, oldValue}]`, as AS3's SyncEvent. */
export class SyncEvent extends Event {
  static SYNC = 'sync';

  /**
   * @param {string} type
   * @param {{code: string, name: string, oldValue: unknown}[]} changeList
   */
  constructor(type, changeList) {
    super(type);
    this.changeList = changeList;
  }
}

/** getRemote's objects, so that the same name, path and persistence give the same object. */
const remotes = new Map();

const info = (code, description) => ({ level: 'error', code, description });

/** A URI without a trailing slash, for comparing remotePath with the NetConnection's. */
const trimUri = (uri) => String(uri).replace(/\/+$/, '');

/** A frozen, prototype-less view of `[[slot, value], ...]`. */
function view(pairs) {
  const data = Object.create(null);
  for (const [slot, value] of pairs ?? []) {
    Object.defineProperty(data, slot, { value, enumerable: true });
  }
  return Object.freeze(data);
}

/**
 * A remote shared object (FMS, Red5 and the rtmpws gateway keep them per application).
 *
 * Events: `sync` (SyncEvent), `netStatus` (SharedObject.UriMismatch, SharedObject.BadPersistence,
 * SharedObject.NoReadAccess, SharedObject.NoWriteAccess... from the server), `asyncError` (a
 * `send` handler missing on `client`, or throwing).
 */
export class SharedObject extends EventTarget {
  /**
   * The object called `name` on the application at `remotePath` (the URI the NetConnection
   * connects to); `persistence` true (or a string, as AS3's local path) for a persistent one.
   * The same arguments give the same object.
   * @param {string} name
   * @param {string} remotePath
   * @param {boolean | string} [persistence]
   */
  static getRemote(name, remotePath, persistence = false) {
    if (typeof remotePath !== 'string' || remotePath === '') {
      throw new TypeError('SharedObject.getRemote: remotePath must be the NetConnection URI');
    }
    const persistent = Boolean(persistence);
    const key = JSON.stringify([String(name), trimUri(remotePath), persistent]);
    let so = remotes.get(key);
    if (!so) {
      so = new SharedObject(String(name), remotePath, persistent);
      remotes.set(key, so);
    }
    return so;
  }

  #name;
  #path;
  #persistent;
  /** @type {import('./netconnection.js').NetConnection | null} */
  #nc = null;
  #data = view([]);
  /** Slots set since the last request: slot -> value (null deletes). */
  #pending = new Map();
  #timer = null;
  #lastSent = -Infinity;
  #fps = Infinity;
  #client = null;

  /** Use {@link SharedObject.getRemote}. */
  constructor(name, remotePath, persistent) {
    super();
    this.#name = name;
    this.#path = remotePath;
    this.#persistent = persistent;
    Object.defineProperty(this, INTERNAL, {
      value: {
        onEvent: (event) => this.#onEvent(event),
        connectionClosed: () => this.#detach(),
      },
    });
  }

  /**
   * Subscribes through `nc`, which must be connected to `remotePath` (else netStatus
   * SharedObject.UriMismatch). A `sync` follows with the server's slots.
   * @param {import('./netconnection.js').NetConnection} nc
   */
  connect(nc) {
    const core = nc?.[INTERNAL]?.core;
    if (!core || !nc.connected || core.state !== 'connected') {
      throw new Error('SharedObject.connect: the NetConnection is not connected');
    }
    if (trimUri(nc.uri) !== trimUri(this.#path)) {
      queueMicrotask(() => dispatchStatus(this, info('SharedObject.UriMismatch', `${this.#path} is not ${nc.uri}`)));
      return;
    }
    if (this.#nc === nc) {
      return;
    }
    const other = core.sharedObjects.get(this.#name);
    if (other && other !== this) {
      other.close();
    }
    this.#detach();
    this.#nc = nc;
    core.sharedObjects.set(this.#name, this);
    core.with((conn) => conn.soUse(this.#name, this.#persistent));
    this.#schedule();
  }

  /** Unsubscribes; the local copy stays readable. */
  close() {
    const core = this.#core();
    if (core?.sharedObjects.get(this.#name) === this) {
      this.#flush();
      core.with((conn) => conn.soRelease(this.#name));
      core.sharedObjects.delete(this.#name);
    }
    this.#detach();
  }

  /** As AS3 does for a remote object: disconnects and purges the local copy. */
  clear() {
    this.close();
    this.#pending.clear();
    this.#data = view([]);
  }

  /**
   * Sets a slot (null or undefined deletes it). `data` shows it at once; the request goes on
   * the next tick, or with `fps` set at most that many times a second, several slots in one.
   * @param {string} name
   * @param {unknown} [value]
   */
  setProperty(name, value) {
    const slot = String(name);
    this.#pending.set(slot, value ?? null);
    const pairs = Object.entries(this.#data).filter(([key]) => key !== slot);
    if (value !== null && value !== undefined) {
      pairs.push([slot, value]);
    }
    this.#data = view(pairs);
    this.#schedule();
  }

  /** Sends a slot again with its current value (after changing an object it holds). */
  setDirty(name) {
    const slot = String(name);
    if (Object.hasOwn(this.#data, slot)) {
      this.#pending.set(slot, this.#data[slot]);
      this.#schedule();
    }
  }

  /**
   * Calls `client[handler](...args)` on every subscriber, this one included.
   * @param {string} handler
   * @param {...unknown} args
   */
  send(handler, ...args) {
    this.#core()?.with((conn) => conn.soSend(this.#name, String(handler), args));
  }

  /** The slots (read-only; change them with setProperty). */
  get data() {
    return this.#data;
  }

  /** Object whose own methods `send` calls; none (nothing is called) until the page sets one. */
  get client() {
    return this.#client;
  }

  set client(value) {
    if (value === null || value === undefined) {
      throw new TypeError('SharedObject.client cannot be null');
    }
    this.#client = value;
  }

  /** The NetConnection's encoding (0 AMF0, 3 AMF3): it carries the object's messages. */
  get objectEncoding() {
    return this.#nc?.objectEncoding ?? 0;
  }

  set objectEncoding(value) {
    if (value !== 0 && value !== 3) {
      throw new RangeError('objectEncoding must be 0 or 3');
    }
    if (this.#nc && value !== this.#nc.objectEncoding) {
      throw new Error('SharedObject.objectEncoding is that of its NetConnection');
    }
  }

  /** Requests per second at most (Infinity, the default: each tick; 0: hold them). */
  get fps() {
    return this.#fps;
  }

  set fps(value) {
    const fps = Number(value);
    this.#fps = Number.isNaN(fps) || fps < 0 ? 0 : fps;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#schedule();
  }

  #core() {
    return this.#nc?.[INTERNAL].core ?? null;
  }

  #detach() {
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#nc = null;
  }

  #schedule() {
    if (this.#timer !== null || !this.#nc || this.#pending.size === 0 || this.#fps === 0) {
      return;
    }
    const wait = this.#fps === Infinity ? 0 : Math.max(0, this.#lastSent + 1000 / this.#fps - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#flush();
    }, wait);
  }

  #flush() {
    if (this.#pending.size === 0 || !this.#nc) {
      return;
    }
    const changes = [...this.#pending];
    this.#pending.clear();
    this.#lastSent = performance.now();
    this.#core()?.with((conn) => conn.soSetProperties(this.#name, changes));
  }

  #onEvent(event) {
    switch (event.type) {
      case 'soSync': {
        const core = this.#core();
        const pairs = core?.with((conn) => conn.soData(this.#name));
        // Slots set here and not yet sent stay as the page set them.
        const local = new Map(pairs ?? []);
        for (const [slot, value] of this.#pending) {
          if (value === null) {
            local.delete(slot);
          } else {
            local.set(slot, value);
          }
        }
        this.#data = view(local);
        this.dispatchEvent(new SyncEvent(SyncEvent.SYNC, event.changeList));
        break;
      }
      case 'soMessage':
        invokeClient(this, this.#client, event.handler, event.args ?? []);
        break;
      case 'soStatus':
        dispatchStatus(this, event.info);
        break;
      default:
        break;
    }
  }
}
