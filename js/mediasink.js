// The media element side: fMP4 segments from the wasm remuxer into one SourceBuffer, the
// Flash buffer events (Buffer.Full / Empty / Flush) from the element's buffered range, live
// latency control and trimming.

/** How often the buffer is examined (ms). Video events trigger extra checks in between. */
const TICK_MS = 100;
/** Live: past bufferTime + this (s) behind the buffered end, the playhead jumps forward. */
const JUMP_MARGIN = 1.0;
/** Live: past bufferTime + this (s), playback runs at CATCH_UP_RATE until back at bufferTime. */
const RATE_MARGIN = 0.1;
const CATCH_UP_RATE = 1.1;
/** Media this far (s) behind the playhead is removed, so memory stays flat in long sessions. */
const KEEP_BEHIND = 10;
/** Below this much buffered media (s) ahead of the playhead, the buffer counts as empty. */
const EMPTY_EPSILON = 0.04;
/** A playing element that has not had data to advance for this long (ms) has run dry. */
const STALL_MS = 150;
/** Stuck within this much (s) of the end of a range that a later range follows: jump the hole. */
const STUCK_MARGIN = 0.3;
/**
 * Most segment bytes waiting for the SourceBuffer: about half a minute of an 8 Mbit/s stream.
 * Normally only what arrives during one append waits; more means the element does not take
 * media (its MediaSource never opened, or appends cannot keep up), and the network would
 * otherwise fill the page's memory.
 */
const MAX_QUEUED_BYTES = 32 << 20;

/**
 * One MediaSource/SourceBuffer fed from remuxer events.
 *
 * `callbacks.status(code, description?)` receives the player-made NetStream codes.
 */
export class MediaSink {
  /**
   * @param {HTMLMediaElement} element
   * @param {{status: (code: string, description?: string) => void}} callbacks
   */
  constructor(element, callbacks) {
    this.element = element;
    this.callbacks = callbacks;
    this.bufferTime = 0.1;
    this.bufferTimeMax = 0;
    this.live = true;
    /** Set by NetStream.pause(): no latency control, no autoplay. */
    this.userPaused = false;
    this.fps = 0;
    this.lastFrames = 0;
    this.lastFpsAt = 0;
    this.lastTrimAt = 0;
    this.onElementEvent = () => this.tick();
    this.onElementError = () => this.elementError();
    this.onPlaying = () => {
      this.shown = true;
      this.tick();
    };
    element.addEventListener('playing', this.onPlaying);
    for (const type of ['waiting', 'stalled', 'timeupdate', 'progress', 'seeked']) {
      element.addEventListener(type, this.onElementEvent);
    }
    element.addEventListener('error', this.onElementError);
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.open();
  }

  /**
   * A fresh MediaSource (new play, seek, resume, or a track set a SourceBuffer cannot change to).
   *
   * `position`: the stream time (s) the new media starts from, reported by streamTime() until
   * it arrives (a seek target, the playhead of a resume). `exact`: start playback at
   * `position` rather than at the keyframe before it (a resume continues where it paused).
   * `quiet`: the restart is the player's own business (receiveAudio/receiveVideo changed the
   * track set), so its first Buffer.Full is not reported again.
   */
  open({ position = null, exact = false, quiet = false } = {}) {
    // The remuxer writes an init segment only when the codecs change, so a new MediaSource
    // starts with the last one it had.
    const lastInit = this.lastInit ?? null;
    const wasFull = this.state === 'full';
    this.closeSource();
    const source = new MediaSource();
    this.source = source;
    this.url = URL.createObjectURL(source);
    /** @type {SourceBuffer | null} */
    this.buffer = null;
    this.mime = null;
    this.tracks = null;
    /** Items waiting for the SourceBuffer: {kind: 'init'|'media'|'remove', ...}. */
    this.queue = lastInit ? [{ kind: 'init', event: lastInit }] : [];
    /** Their bytes, bounded by MAX_QUEUED_BYTES. */
    this.queuedBytes = itemBytes(this.queue[0]);
    this.lastInit = lastInit;
    /** Remuxer timelines: each restarts at 0, so each gets a timestampOffset. */
    this.timeline = null;
    /** @type {{timeline: number, offset: number, baseMs: number | null}[]} */
    this.epochs = [];
    this.unsupported = false;
    /** 'empty' until Buffer.Full, 'full' until Buffer.Empty. */
    this.state = 'empty';
    this.ended = false;
    this.drained = false;
    this.stalledSince = null;
    this.autoplayed = false;
    /** Set once the element plays this MediaSource's media (its first frame is on screen). */
    this.shown = false;
    this.internalPause = false;
    this.failed = false;
    this.reopening = false;
    this.position = typeof position === 'number' && Number.isFinite(position) ? position : null;
    this.startAt = exact ? this.position : null;
    this.quietFull = quiet && wasFull;
    source.addEventListener('sourceopen', () => this.pump(), { once: true });
    this.element.src = this.url;
  }

  closeSource() {
    if (this.url) {
      URL.revokeObjectURL(this.url);
      this.url = null;
    }
    this.buffer = null;
    this.source = null;
  }

  /** Stops everything and releases the element. */
  destroy() {
    clearInterval(this.timer);
    for (const type of ['waiting', 'stalled', 'timeupdate', 'progress', 'seeked']) {
      this.element.removeEventListener(type, this.onElementEvent);
    }
    this.element.removeEventListener('error', this.onElementError);
    this.element.removeEventListener('playing', this.onPlaying);
    this.closeSource();
    this.element.removeAttribute('src');
    this.element.load();
  }

  /** @param {{mime: string, data: Uint8Array, hasAudio: boolean, hasVideo: boolean, timeline: number}} event */
  init(event) {
    // The newest init, even before it is appended: a MediaSource opened before that starts
    // with it (the remuxer does not repeat an init whose codecs did not change).
    if (this.failed) {
      this.lastInit = event;
      return;
    }
    this.reopenIfPlayedOut();
    this.lastInit = event;
    if (this.enqueue({ kind: 'init', event })) {
      this.pump();
    }
  }

  /** @param {{data: Uint8Array, startMs: number, endMs: number, baseMs: number, timeline: number}} event */
  media(event) {
    if (this.unsupported || this.failed) {
      return;
    }
    this.reopenIfPlayedOut();
    this.ended = false;
    this.drained = false;
    if (this.enqueue({ kind: 'media', event })) {
      this.pump();
    }
  }

  /**
   * Queues a segment from the network; false (and the sink fails) when that would put more
   * than MAX_QUEUED_BYTES in the queue.
   */
  enqueue(item) {
    const bytes = itemBytes(item);
    if (this.queuedBytes + bytes > MAX_QUEUED_BYTES) {
      item.event?.release?.();
      this.overflow();
      return false;
    }
    this.queue.push(item);
    this.queuedBytes += bytes;
    return true;
  }

  /** The next queued item, no longer counted. */
  dequeue() {
    const item = this.queue.shift();
    this.queuedBytes -= itemBytes(item);
    return item;
  }

  /**
   * The element does not take media: drop what waits and stop with NetStream.Failed rather
   * than hold more. A new play() or seek (or resuming a recorded stream) opens a new
   * MediaSource and starts over.
   */
  overflow() {
    for (const item of this.queue) {
      item.event?.release?.();
    }
    this.queue = [];
    this.queuedBytes = 0;
    this.failed = true;
    this.callbacks.status('NetStream.Failed', `More than ${MAX_QUEUED_BYTES >> 20} MiB of media waited for the media element, which is not taking it; playback stopped.`);
  }

  /**
   * Media after the element played a finished stream to its end (a live stream published
   * again): a fresh MediaSource, since an ended element would replay from the start.
   */
  reopenIfPlayedOut() {
    if (this.ended && this.element.ended) {
      this.open({ position: this.streamTime() });
    }
  }

  /** The stream ended (Play.Stop, Play.UnpublishNotify, Play.Complete). */
  end() {
    if (this.ended) {
      // Play.Complete then Play.Stop: one end, one Buffer.Flush.
      return;
    }
    this.ended = true;
    if (this.state === 'full' && this.ahead() > EMPTY_EPSILON) {
      this.callbacks.status('NetStream.Buffer.Flush');
    }
    this.pump();
    this.tick();
  }

  /** Appends or removes the next queued item once the SourceBuffer is idle. */
  pump() {
    const source = this.source;
    // 'ended' after endOfStream(): an append or remove opens the source again.
    if (!source || source.readyState === 'closed' || this.failed) {
      return;
    }
    if (this.buffer?.updating) {
      return;
    }
    if (source.readyState === 'ended' && this.queue.length > 0) {
      // More after endOfStream (the element has not reached the end yet): the next append
      // opens the source again; its duration must not stay where the end was, or the element
      // ends there before the new media extends it.
      this.reopening = true;
    } else if (this.reopening && source.readyState === 'open') {
      this.reopening = false;
      try {
        source.duration = Infinity;
      } catch {
        // Not while the source is busy; the media extends the duration anyway.
      }
    }
    while (this.queue.length > 0) {
      const item = this.dequeue();
      try {
        if (item.kind === 'remove') {
          if (this.buffer && item.end > item.start) {
            this.buffer.remove(item.start, item.end);
            return;
          }
          continue;
        }
        if (item.kind === 'init') {
          if (this.appendInit(item.event)) {
            return;
          }
          continue;
        }
        if (!this.buffer) {
          continue;
        }
        this.enterTimeline(item.event);
        // Segments that queued up while the buffer was busy go in one append.
        let data = item.event.data;
        const merged = [item.event];
        while (this.queue[0]?.kind === 'media' && this.queue[0].event.timeline === item.event.timeline) {
          merged.push(this.dequeue().event);
        }
        if (merged.length > 1) {
          data = concat(merged.map((event) => event.data));
        }
        try {
          this.buffer.appendBuffer(data);
          // appendBuffer has copied the bytes: the remuxer's event arena may reuse them.
          for (const event of merged) {
            event.release?.();
          }
        } catch (error) {
          if (error?.name === 'QuotaExceededError') {
            // Free what is behind the playhead and try again; drop the data if nothing can go.
            const freed = this.trim(1);
            if (freed) {
              this.queue.unshift({ kind: 'media', event: { ...item.event, data } });
              this.queuedBytes += data.byteLength;
            }
            if (freed || this.buffer?.updating) {
              return;
            }
            continue;
          }
          throw error;
        }
        return;
      } catch (error) {
        this.fail(error);
        return;
      }
    }
    this.signalEnd();
  }

  /**
   * Once the stream has ended and everything is appended, tells MSE so: without it Chromium
   * keeps the last few hundred milliseconds in its decoders, waiting for more, and never shows
   * them. New media (a live stream published again, appendBytes) opens the source again.
   */
  signalEnd() {
    const source = this.source;
    if (this.ended && this.buffer && !this.buffer.updating && source?.readyState === 'open' && this.queue.length === 0) {
      try {
        source.endOfStream();
      } catch {
        // A SourceBuffer became busy meanwhile: the next updateend comes back here.
      }
    }
  }

  /** Returns true if an append was started (wait for updateend). */
  appendInit(event) {
    const { mime, data } = event;
    const tracks = `${event.hasAudio}/${event.hasVideo}`;
    if (!globalThis.MediaSource?.isTypeSupported(mime)) {
      this.unsupported = true;
      this.queue = this.queue.filter((item) => item.kind !== 'media');
      this.queuedBytes = this.queue.reduce((sum, item) => sum + itemBytes(item), 0);
      this.callbacks.status('NetStream.Play.NoSupportedTrackFound', `This browser cannot play ${mime}.`);
      return false;
    }
    this.unsupported = false;
    if (this.buffer && this.tracks !== tracks) {
      // A SourceBuffer cannot gain or lose tracks: start over with a new MediaSource and
      // replay this init and what follows into it.
      // For the page it is the same stream: ns.time, a pending start position and the buffer
      // state carry over (no second Buffer.Full for a stream that never reported Empty).
      const rest = this.queue;
      const position = this.streamTime();
      const exact = this.startAt !== null;
      const quiet = this.quietFull || this.state === 'full';
      this.lastInit = event;
      this.open({ position, exact, quiet });
      this.quietFull = quiet;
      this.queue.push(...rest);
      this.queuedBytes = this.queue.reduce((sum, item) => sum + itemBytes(item), 0);
      this.pump();
      return true;
    }
    if (!this.buffer) {
      const buffer = this.source.addSourceBuffer(mime);
      buffer.mode = 'segments';
      buffer.addEventListener('updateend', () => {
        this.pump();
        this.tick();
      });
      this.buffer = buffer;
    } else if (mime !== this.mime) {
      if (typeof this.buffer.changeType === 'function') {
        this.buffer.changeType(mime);
      }
    }
    this.mime = mime;
    this.tracks = tracks;
    this.lastInit = event;
    this.buffer.appendBuffer(data);
    return true;
  }

  /**
   * Each remuxer timeline starts at 0; the first segment of a new one is placed just after
   * what is buffered, and the epoch remembers how to map element time back to stream time.
   * The first timeline of a recorded stream's MediaSource is placed at its stream time, so
   * that the element's currentTime is the file's time (after a seek too), as a page using the
   * element's own clock or controls expects.
   */
  enterTimeline(event) {
    if (event.timeline === this.timeline) {
      const epoch = this.epochs[this.epochs.length - 1];
      if (epoch && epoch.baseMs === null && typeof event.baseMs === 'number') {
        epoch.baseMs = event.baseMs;
      }
      return;
    }
    this.timeline = event.timeline;
    const end = this.bufferedEnd();
    const base = typeof event.baseMs === 'number' ? event.baseMs : null;
    let offset;
    if (this.epochs.length > 0) {
      // Right after what is buffered: the next playlist item follows without a hole.
      offset = Math.max(end, this.element.currentTime);
    } else {
      offset = this.live || base === null ? 0 : base / 1000;
    }
    if (this.buffer && this.buffer.timestampOffset !== offset) {
      this.buffer.timestampOffset = offset;
    }
    this.epochs.push({ timeline: event.timeline, offset, baseMs: base });
    if (this.epochs.length > 16) {
      this.epochs.splice(0, this.epochs.length - 16);
    }
  }

  /** Stream time (s) of element time `t`. */
  streamTime(t = this.element.currentTime) {
    let epoch = null;
    for (const e of this.epochs) {
      if (e.offset <= t + 0.001) {
        epoch = e;
      }
    }
    if (!epoch || this.startAt !== null) {
      // Nothing of the new timeline is on screen yet: where it will start.
      return this.position ?? 0;
    }
    return Math.max(0, t - epoch.offset + (epoch.baseMs ?? 0) / 1000);
  }

  /** Element time of stream time `seconds` on the first timeline, or null before it exists. */
  elementTime(seconds) {
    const epoch = this.epochs[0];
    if (!epoch || epoch.baseMs === null) {
      return null;
    }
    return seconds - epoch.baseMs / 1000 + epoch.offset;
  }

  /**
   * Resume: once the media around `startAt` is buffered, move the playhead there (the server
   * restarted at the keyframe before it). Until then the buffer does not count as full.
   */
  applyStart() {
    if (this.startAt === null) {
      return;
    }
    const target = this.elementTime(this.startAt);
    if (target === null) {
      return;
    }
    const ranges = this.element.buffered;
    for (let i = 0; i < ranges.length; i++) {
      const start = ranges.start(i);
      const end = ranges.end(i);
      if (start > target + 0.05) {
        // The media starts later than asked: play from where it starts.
        this.startAt = null;
        return;
      }
      if (target < end - 0.05) {
        this.element.currentTime = Math.max(start, target);
        this.startAt = null;
        return;
      }
    }
    if (this.ended) {
      this.startAt = null;
    }
  }

  bufferedEnd() {
    const ranges = this.buffer?.buffered;
    if (!ranges || ranges.length === 0) {
      return 0;
    }
    return ranges.end(ranges.length - 1);
  }

  /** Seconds of media buffered ahead of the playhead. */
  ahead() {
    const ranges = this.element.buffered;
    const t = this.element.currentTime;
    for (let i = 0; i < ranges.length; i++) {
      if (ranges.start(i) <= t + 0.1 && t < ranges.end(i)) {
        return ranges.end(i) - t;
      }
    }
    return 0;
  }

  /** Queues removal of media more than `keep` seconds behind the playhead; true if any. */
  trim(keep = KEEP_BEHIND) {
    const ranges = this.buffer?.buffered;
    if (!ranges || ranges.length === 0) {
      return false;
    }
    const limit = this.element.currentTime - keep;
    const start = ranges.start(0);
    if (limit - start < 0.5) {
      return false;
    }
    this.queue.unshift({ kind: 'remove', start, end: limit });
    if (!this.buffer.updating) {
      this.pump();
    }
    return true;
  }

  /** The element or SourceBuffer failed: the media could not be decoded. */
  elementError() {
    const error = this.element.error;
    if (!error || this.failed || !this.source) {
      return;
    }
    this.failed = true;
    if (error.code === MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED) {
      this.callbacks.status('NetStream.Play.NoSupportedTrackFound', error.message || 'The media cannot be played.');
    } else if (error.code === MediaError.MEDIA_ERR_DECODE) {
      this.callbacks.status('NetStream.Play.FileStructureInvalid', error.message || 'The media cannot be decoded.');
    }
  }

  fail(error) {
    if (this.failed) {
      return;
    }
    // An append that throws means the SourceBuffer is gone (the element hit a decode error);
    // the element's error event says why, if it has not already.
    if (this.element.error) {
      this.elementError();
      return;
    }
    this.failed = true;
    this.callbacks.status('NetStream.Play.FileStructureInvalid', String(error?.message ?? error));
  }

  /** Buffer events, autoplay, gap jumping, latency control, trimming, FPS. */
  tick() {
    const element = this.element;
    const now = performance.now();
    if (now - this.lastFpsAt >= 1000) {
      const frames = element.getVideoPlaybackQuality?.().totalVideoFrames ?? 0;
      if (this.lastFpsAt > 0) {
        this.fps = ((frames - this.lastFrames) * 1000) / (now - this.lastFpsAt);
      }
      this.lastFrames = frames;
      this.lastFpsAt = now;
    }
    if (!this.buffer || this.failed) {
      return;
    }
    this.jumpGaps();
    this.applyStart();
    const ahead = this.ahead();
    // Playing but not advancing for lack of data. Chromium can stop a few frames short of the
    // buffered end (it keeps some data ahead of its decoders), so this, not a zero `ahead`, is
    // what "the buffer ran dry" looks like; the delay keeps a seek's brief stall from counting.
    const stalledNow = !element.paused && !element.seeking && element.readyState < HTMLMediaElement.HAVE_FUTURE_DATA;
    if (!stalledNow) {
      this.stalledSince = null;
    } else if (this.stalledSince === null) {
      this.stalledSince = now;
    }
    const stalled = this.stalledSince !== null && now - this.stalledSince >= STALL_MS;
    if (this.state === 'empty') {
      const enough = this.ended ? ahead > EMPTY_EPSILON && !this.drained : ahead > 0 && ahead >= this.bufferTime;
      if (enough && this.startAt === null) {
        this.state = 'full';
        if (this.quietFull) {
          this.quietFull = false;
        } else {
          this.callbacks.status('NetStream.Buffer.Full');
        }
        this.start();
      }
    } else if (ahead < EMPTY_EPSILON || stalled) {
      this.state = 'empty';
      this.stalledSince = null;
      this.callbacks.status('NetStream.Buffer.Empty');
      if (this.ended) {
        // The end of the stream has played out; wait for new media before Full again, and
        // then play on (the element paused itself at the end of the MediaSource).
        this.drained = true;
        if (!this.userPaused) {
          this.internalPause = true;
        }
      } else if (!this.userPaused && !element.paused) {
        // As Flash does, playback waits until bufferTime is buffered again.
        this.internalPause = true;
        element.pause();
      }
    }
    if (this.live && !this.userPaused && !this.ended && this.state === 'full') {
      this.controlLatency(ahead);
    }
    if (now - this.lastTrimAt > 2000) {
      this.lastTrimAt = now;
      this.trim();
    }
  }

  /** Plays once the buffer is full (the first time, and after an internal rebuffering pause). */
  start() {
    const element = this.element;
    if (this.userPaused || (this.autoplayed && !this.internalPause)) {
      return;
    }
    if (element.ended) {
      // The end of what there is (endOfStream): play() would start over from the beginning.
      // New media moves the end, and the next Buffer.Full comes back here.
      this.internalPause = true;
      return;
    }
    this.autoplayed = true;
    this.internalPause = false;
    if (!element.paused) {
      return;
    }
    element.play().catch((error) => {
      if (error?.name === 'NotAllowedError' && !element.muted) {
        // Autoplay with sound was refused: play muted, as browsers allow (the page can unmute).
        element.muted = true;
        element.play().catch(() => {});
      }
    });
  }

  /** Moves the playhead over holes (stream restarts, new timelines, lost media). */
  jumpGaps() {
    const element = this.element;
    const ranges = element.buffered;
    const t = element.currentTime;
    if (ranges.length === 0 || element.seeking) {
      return;
    }
    // Chromium stops a few frames short of the end of a range when a hole follows (it keeps
    // data ahead of its decoders): stuck there with more media after the hole, jump too.
    const stuck = !element.paused && element.readyState < HTMLMediaElement.HAVE_FUTURE_DATA;
    for (let i = 0; i < ranges.length; i++) {
      const start = ranges.start(i);
      const end = ranges.end(i);
      if (t >= end) {
        continue;
      }
      if (start > t + 0.1) {
        // In a hole before this range.
        element.currentTime = start + 0.01;
        return;
      }
      const next = i + 1 < ranges.length ? ranges.start(i + 1) : null;
      if (next !== null && (t >= end - 0.05 || (stuck && t >= end - STUCK_MARGIN))) {
        element.currentTime = next + 0.01;
      }
      return;
    }
  }

  /** Live: keep the playhead about bufferTime behind the newest media. */
  controlLatency(ahead) {
    const element = this.element;
    if (!this.shown) {
      // A live join gets the server's GOP cache: play its keyframe first, so the picture
      // appears at once, and catch up afterwards. Jumping before the first frame makes the
      // decoder go through the whole cached GOP before anything shows.
      return;
    }
    const target = this.bufferTime;
    const max = this.bufferTimeMax > 0 ? Math.min(this.bufferTimeMax, target + JUMP_MARGIN) : target + JUMP_MARGIN;
    if (ahead > max) {
      element.currentTime = element.currentTime + ahead - target;
      element.playbackRate = 1;
      return;
    }
    if (ahead > target + RATE_MARGIN) {
      if (element.playbackRate !== CATCH_UP_RATE) {
        element.playbackRate = CATCH_UP_RATE;
      }
    } else if (ahead <= target + 0.05 && element.playbackRate !== 1) {
      element.playbackRate = 1;
    }
  }
}

/** Bytes of a queued item (a removal has none). */
function itemBytes(item) {
  return item?.event?.data?.byteLength ?? 0;
}

function concat(parts) {
  let length = 0;
  for (const part of parts) {
    length += part.byteLength;
  }
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
