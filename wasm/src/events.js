// Segment events the wasm side hands to JS, built here: one call per event with plain numbers
// and byte views into wasm memory, instead of one boundary crossing per property.
//
// Segment bytes are copied out of wasm memory into slices of 1 MiB JS arenas. Fresh memory is
// what costs in a browser (Chromium faults in and zeroes every new ArrayBuffer's pages, which
// took longer than the remux itself), so arenas are reused: a consumer that is done with a
// segment's bytes (MediaSink, once appendBuffer has copied them) calls `event.release()`, and
// an arena whose slices are all released is written again. A segment that is never released
// keeps its arena alive until the garbage collector takes both; nothing is ever reused while
// a slice of it may still be read.

const ARENA = 1 << 20;
/** Released arenas kept for reuse (bounded: a burst does not pin its memory forever). */
const SPARE = 4;

class Arena {
  constructor() {
    this.bytes = new Uint8Array(ARENA);
    this.used = 0;
    /** Slices handed out and not released. */
    this.live = 0;
  }
}

let current = null;
const spare = [];

function slice(length) {
  if (length > ARENA >> 2) {
    return [new Uint8Array(length), null];
  }
  if (current === null || current.used + length > ARENA) {
    current = spare.pop() ?? new Arena();
  }
  const arena = current;
  const bytes = arena.bytes.subarray(arena.used, arena.used + length);
  arena.used += length;
  arena.live += 1;
  return [bytes, arena];
}

function release(arena) {
  arena.live -= 1;
  if (arena.live === 0) {
    arena.used = 0;
    if (arena !== current && spare.length < SPARE) {
      spare.push(arena);
    }
  }
}

/** `{type: 'media', streamId, timeline, data, startMs, endMs, baseMs, keyframe, newestMs}`. */
class MediaEvent {
  #arena;

  constructor(streamId, timeline, data, arena, startMs, endMs, baseMs, keyframe, newestMs) {
    this.type = 'media';
    this.streamId = streamId;
    this.timeline = timeline;
    this.data = data;
    this.startMs = startMs;
    this.endMs = endMs;
    this.baseMs = baseMs;
    this.keyframe = keyframe;
    this.newestMs = newestMs;
    this.#arena = arena;
  }

  /** The bytes were consumed (copied by appendBuffer): `data` may be overwritten from now on. */
  release() {
    const arena = this.#arena;
    if (arena) {
      this.#arena = null;
      this.data = null;
      release(arena);
    }
  }
}

export function mediaEvent(streamId, timeline, head, body, startMs, endMs, baseMs, keyframe, newestMs) {
  const [data, arena] = slice(head.length + body.length);
  data.set(head);
  if (body.length > 0) {
    data.set(body, head.length);
  }
  return new MediaEvent(streamId, timeline, data, arena, startMs, endMs, baseMs, keyframe, newestMs < 0 ? undefined : newestMs);
}

export function initEvent(streamId, timeline, mime, bytes, hasAudio, hasVideo, width, height) {
  return { type: 'init', streamId, timeline, mime, data: bytes.slice(), hasAudio, hasVideo, width, height };
}
