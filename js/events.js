// Flash-style event classes. Both NetConnection and NetStream are EventTargets; listeners use
// the ActionScript event names ('netStatus', 'asyncError', 'ioError').

/** `netStatus`: `info` is the info object as the server sent it (or as the player made it). */
export class NetStatusEvent extends Event {
  static NET_STATUS = 'netStatus';

  /**
   * @param {string} type
   * @param {object} info
   */
  constructor(type, info) {
    super(type);
    this.info = info;
  }
}

/**
 * `asyncError`: a callback the server asked for is missing on `client`, or threw. Flash raises
 * the same event (error #2095) in both cases.
 */
export class AsyncErrorEvent extends Event {
  static ASYNC_ERROR = 'asyncError';

  /**
   * @param {string} type
   * @param {Error} error
   */
  constructor(type, error) {
    super(type);
    this.error = error;
    this.text = error?.message ?? String(error);
  }
}

/** `ioError`: the WebSocket failed or carried bytes that are not RTMP. */
export class IOErrorEvent extends Event {
  static IO_ERROR = 'ioError';

  /**
   * @param {string} type
   * @param {string} text
   */
  constructor(type, text) {
    super(type);
    this.text = text;
  }
}
