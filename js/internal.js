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
 * Calls `client[name](...args)` as Flash does: a missing handler or one that throws becomes an
 * `asyncError` event on `target` (Flash's error #2095) instead of breaking the stream.
 * @param {EventTarget} target
 * @param {object} client
 * @param {string} name
 * @param {unknown[]} args
 * @param {boolean} [quietIfMissing] do not report a missing handler
 */
export function invokeClient(target, client, name, args, quietIfMissing = false) {
  const handler = client?.[name];
  if (typeof handler !== 'function') {
    if (!quietIfMissing) {
      const owner = target.constructor?.name ?? 'object';
      const error = new Error(`${owner} was unable to invoke callback ${name}.`);
      target.dispatchEvent(new AsyncErrorEvent(AsyncErrorEvent.ASYNC_ERROR, error));
    }
    return;
  }
  try {
    handler.apply(client, args);
  } catch (error) {
    target.dispatchEvent(new AsyncErrorEvent(AsyncErrorEvent.ASYNC_ERROR, error));
  }
}
