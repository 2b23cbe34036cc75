// rtmpws: ActionScript's NetConnection and NetStream for RTMP over WebSocket, played through
// Media Source Extensions. The RTMP session and the FLV-to-fMP4 remuxer run in wasm, which this
// module loads itself (top-level await), so a plain <script type="module"> can import it and
// bundlers (Vite) pick the .wasm up through the `new URL(..., import.meta.url)` below.

import init, { allStatusCodes, netStreamCodes } from './wasm/rtmpws_wasm.js';
import { AsyncErrorEvent, IOErrorEvent, NetStatusEvent } from './events.js';
import { NetConnection, Responder } from './netconnection.js';
import { NetStream } from './netstream.js';
import { SharedObject, SyncEvent } from './sharedobject.js';

await init({ module_or_path: new URL('./wasm/rtmpws_wasm_bg.wasm', import.meta.url) });

// The published module is minified, which renames classes: give the public ones back their
// ActionScript names (error messages and pages read constructor.name).
const PUBLIC = { NetConnection, Responder, NetStream, SharedObject, SyncEvent, AsyncErrorEvent, IOErrorEvent, NetStatusEvent };
for (const [name, type] of Object.entries(PUBLIC)) {
  Object.defineProperty(type, 'name', { value: name });
}

export { NetConnection, Responder, NetStream, SharedObject, SyncEvent, AsyncErrorEvent, IOErrorEvent, NetStatusEvent };

/**
 * The 32 NetStream status codes, as `{code, level, how}` (how: 'S' server onStatus, 'P' server
 * onPlayStatus, 'C' made by the player, 'SC' either), from the wasm catalogue.
 */
export const NETSTREAM_CODES = Object.freeze(netStreamCodes().map((entry) => Object.freeze(entry)));

/** Every status code rtmpws knows (NetStream and NetConnection), same shape. */
export const STATUS_CODES = Object.freeze(allStatusCodes().map((entry) => Object.freeze(entry)));
