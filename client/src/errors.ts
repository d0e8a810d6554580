/** One failure inside an `invalid` input: an escaped JSON pointer into the input and what is wrong there. */
export interface ErrorDetail {
  pointer: string;
  message: string;
}

/** What a WsrouteError may carry besides its code and message. */
export interface WsrouteErrorInit {
  details?: ErrorDetail[];
  retriable?: boolean;
  action?: string;
  ref?: string | number;
  /** `rate_limited` errors: when to try again, in milliseconds. */
  retryAfterMs?: number;
  cause?: unknown;
}

/**
 * The error a request rejects with.
 *
 * Codes from the server (an error frame): `bad_request`, `not_found`, `unauthenticated`,
 * `forbidden`, `invalid` (with `details`), `rate_limited` (with `retryAfterMs`),
 * `unavailable`, `internal`, and the application's own codes. Only `rate_limited` is
 * `retriable`: the server refused it before any handler ran, so sending it again after
 * `retryAfterMs` is safe; for the others nothing says so.
 *
 * Codes from the client: `timeout` and `disconnected` (retriable: the request may or may not
 * have run; the client never replays it), `closed` (the client was closed, or gave up
 * reconnecting), `not_open` (send() while the connection is not open).
 */
export class WsrouteError extends Error {
  readonly code: string;
  readonly details?: ErrorDetail[];
  readonly retriable: boolean;
  readonly action?: string;
  readonly ref?: string | number;
  readonly retryAfterMs?: number;

  constructor(code: string, message: string, init: WsrouteErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "WsrouteError";
    this.code = code;
    this.retriable = init.retriable ?? false;
    if (init.details !== undefined) this.details = init.details;
    if (init.action !== undefined) this.action = init.action;
    if (init.ref !== undefined) this.ref = init.ref;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }
}

/** Builds the WsrouteError of an error frame's "error" member. */
export function errorFromFrame(e: Record<string, unknown>, action: string | undefined, ref: string | number | undefined): WsrouteError {
  const code = typeof e.code === "string" ? e.code : "internal";
  const message = typeof e.message === "string" ? e.message : code;
  const init: WsrouteErrorInit = { retriable: code === "rate_limited" };
  if (Array.isArray(e.details)) {
    init.details = e.details
      .filter((d): d is Record<string, unknown> => typeof d === "object" && d !== null)
      .map((d) => ({ pointer: String(d.pointer ?? ""), message: String(d.message ?? "") }));
  }
  if (typeof e.retryAfterMs === "number") init.retryAfterMs = e.retryAfterMs;
  if (action !== undefined) init.action = action;
  if (ref !== undefined) init.ref = ref;
  return new WsrouteError(code, message, init);
}
