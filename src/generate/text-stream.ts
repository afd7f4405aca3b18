// Token bytes → text chunks for streaming: whole UTF-8 characters only, and stop strings cut out
// before any part of them reaches the client.

export interface StreamChunk {
  /** Text safe to send now (may be empty). */
  text: string;
  /** A stop string has completed: generation should end; later pushes return nothing. */
  stopped: boolean;
}

/**
 * Incremental detokenizer with stop strings.
 *
 * UTF-8: the WHATWG streaming decoder holds an incomplete sequence until its next byte arrives and
 * emits U+FFFD only for bytes that can no longer start or continue a valid character (maximal
 * subparts, as browsers do); `flush` turns a still-incomplete tail into one U+FFFD.
 *
 * Stops: decoded text goes into a hold-back buffer. If a stop string occurs, the text before its
 * earliest occurrence is emitted and the stream ends. Otherwise the longest suffix that is a proper
 * prefix of some stop string stays held (it might still grow into a stop) and the rest is emitted.
 * Hence no emitted text ever contains any part of a stop that later completes.
 */
export class TextStream {
  private readonly stops: string[];
  private readonly decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  /** Decoded text not yet emitted: always a possible stop prefix (or empty) between calls. */
  private held = "";
  private done = false;
  private matchedStop: string | null = null;

  constructor(stops: string[]) {
    // An empty stop string would match everywhere; OpenAI clients send them by accident, so drop them.
    this.stops = [...new Set(stops.filter((s) => s.length > 0))];
  }

  /** The stop string that ended the stream, or null. */
  get matched(): string | null {
    return this.matchedStop;
  }

  get stopped(): boolean {
    return this.matchedStop !== null;
  }

  push(bytes: Uint8Array): StreamChunk {
    if (this.done) return { text: "", stopped: this.stopped };
    const text = this.decoder.decode(bytes, { stream: true });
    return this.scan(this.held + text, false);
  }

  /** End of generation: releases held-back text (it never became a stop) and a broken UTF-8 tail. */
  flush(): string {
    if (this.done) return "";
    const chunk = this.scan(this.held + this.decoder.decode(), true);
    this.done = true;
    return chunk.text;
  }

  private scan(buf: string, final: boolean): StreamChunk {
    if (this.stops.length === 0) {
      this.held = "";
      return { text: buf, stopped: false };
    }
    // Earliest occurrence wins: the text before it is all that may be sent. At equal starts the
    // shorter stop is reported (the emitted text is the same either way).
    let at = -1;
    let which: string | null = null;
    for (const stop of this.stops) {
      const i = buf.indexOf(stop);
      if (i >= 0 && (at < 0 || i < at || (i === at && stop.length < which!.length))) {
        at = i;
        which = stop;
      }
    }
    if (which !== null) {
      this.matchedStop = which;
      this.done = true;
      this.held = "";
      return { text: buf.slice(0, at), stopped: true };
    }
    const keep = final ? 0 : longestStopPrefixSuffix(buf, this.stops);
    this.held = buf.slice(buf.length - keep);
    return { text: buf.slice(0, buf.length - keep), stopped: false };
  }
}

/** Length of the longest suffix of `buf` that is a proper prefix of one of `stops`. */
function longestStopPrefixSuffix(buf: string, stops: string[]): number {
  let best = 0;
  for (const stop of stops) {
    for (let len = Math.min(stop.length - 1, buf.length); len > best; len--) {
      if (buf.endsWith(stop.slice(0, len))) {
        best = len;
        break;
      }
    }
  }
  return best;
}
