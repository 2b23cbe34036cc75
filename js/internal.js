// Shared between the public classes, not exported from index.js.

import { statusInfo } from './wasm/rtmpws_wasm.js';
import { AsyncErrorEvent, NetStatusEvent } from './events.js';

/** Key of the package-private side of NetConnection and NetStream. */
export const INTERNAL = Symbol('rtmpws.internal');

/**
 * The info object for a code the player raises itself, from the wasm catalogue (so a code the
 * catalogue does not know fails loudly instead of reaching pages misspelt).
 * @param {string} code
 * @param {string} [details]
 * @param {string} [description] replaces the catalogue's description
 */
export function makeInfo(code, details = '', description) {
  const info = statusInfo(code, details);
  if (info === undefined) {
    throw new Error(`rtmpws: unknown status code ${code}`);
  }
  if (description !== undefined) {
    info.description = description;
  }
  return info;
}

/**
 * Dispatches `netStatus` with `info` on `target`.
 * @param {EventTarget} target
 * @param {object} info
 */
export function dispatchStatus(target, info) {
  target.dispatchEvent(new NetStatusEvent(NetStatusEvent.NET_STATUS, info));
}

/**
 * Calls `client[name](...args)` for a data message or a server call, as Flash does, but only
 * a handler the page put on a client object it assigned: an own property of `client`.
 *
 * The name comes from the network, and a publisher names its data messages as it likes, so
 * nothing inherited is ever called: not the NetStream's own `seek` or `close` (were the
 * stream its client), nor `constructor`, `toString`, `__proto__` or anything else of a
 * prototype. With no client (`null`), nothing is called and nothing reported. A handler the
 * client lacks, or one that throws, becomes an `asyncError` event on `target` (Flash's error
 * #2095) instead of breaking the stream.
 * @param {EventTarget} target
 * @param {object | null} client
 * @param {unknown} name
 * @param {unknown[]} args
 * @param {boolean} [quietIfMissing] do not report a missing handler
 * @returns {unknown} the handler's return value; {@link NO_HANDLER} when there was none to call
 *   (no client included), {@link THREW} when it threw
 */
export function invokeClient(target, client, name, args, quietIfMissing = false) {
  if (client === null || (typeof client !== 'object' && typeof client !== 'function')) {
    return NO_HANDLER;
  }
  const handler = typeof name === 'string' && Object.hasOwn(client, name) ? client[name] : undefined;
  if (typeof handler !== 'function') {
    if (!quietIfMissing) {
      const owner = target.constructor?.name ?? 'object';
      const error = new Error(`${owner} was unable to invoke callback ${String(name)}.`);
      target.dispatchEvent(new AsyncErrorEvent(AsyncErrorEvent.ASYNC_ERROR, error));
    }
    return NO_HANDLER;
  }
  try {
    return handler.apply(client, args);
  } catch (error) {
    target.dispatchEvent(new AsyncErrorEvent(AsyncErrorEvent.ASYNC_ERROR, error));
    return THREW;
  }
}

/** What {@link invokeClient} returns when no handler was called. */
export const NO_HANDLER = Symbol('rtmpws.noHandler');
/** What {@link invokeClient} returns when the handler threw. */
export const THREW = Symbol('rtmpws.threw');
