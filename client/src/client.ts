import { WsrouteError, errorFromFrame } from "./errors.js";
import type {
  AnyChannel,
  ChannelSpec,
  Client,
  ClientOptions,
  Conn,
  ReconnectOptions,
  RequestOptions,
  State,
  StateInfo,
  WebSocketConstructor,
  WebSocketLike,
} from "./types.js";

const OPEN = 1; // WebSocket.OPEN

/** The effective reconnect settings. */
export type Backoff = Required<ReconnectOptions>;

export const defaultBackoff: Backoff = {
  initialDelay: 500,
  maxDelay: 10000,
  factor: 2,
  jitter: 0.5,
  maxRetries: Infinity,
  stableAfter: 5000,
};

/**
 * The delay before reconnect attempt number retry (0 for the first):
 * min(maxDelay, initialDelay · factor^retry), less a random fraction of up to `jitter` of it
 * (proportional jitter: with 0.5, between half and all of it).
 */
export function backoffDelay(retry: number, b: Backoff, random: () => number = Math.random): number {
  const base = Math.min(b.maxDelay, b.initialDelay * Math.pow(b.factor, retry));
  const jitter = Math.min(1, Math.max(0, b.jitter));
  return Math.max(0, Math.round(base * (1 - jitter * random())));
}

/** Connects to a wsroute channel. The client reconnects by itself until close(). */
export function connect<S extends ChannelSpec = AnyChannel>(url: string | URL, options: ClientOptions<S> = {}): Client<S> {
  return new WsrouteClient<S>(url, options);
}

/** One socket and what belongs to it. */
interface Attempt {
  ws: WebSocketLike;
  ready: boolean; // opened and onOpen finished (subscriptions are restored next)
  failReason?: string; // why the client closed it itself (onOpen failed)
}

interface Pending {
  ref: string;
  action: string;
  frame: string;
  resolve: (v: any) => void;
  reject: (e: unknown) => void;
  sentOn?: Attempt;
  timer?: ReturnType<typeof setTimeout>;
  signal?: AbortSignal;
  onAbort?: () => void;
  topic?: string; // a subscribe() call's topic
}

/** A promise of p's error, or undefined once it succeeded (p's own promise stays the caller's). */
function settledOf(p: Pending): Promise<unknown> {
  return new Promise((done) => {
    const { resolve, reject } = p;
    p.resolve = (v) => {
      resolve(v);
      done(undefined);
    };
    p.reject = (e) => {
      reject(e);
      done(e);
    };
  });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return `an instance of ${(v as object).constructor?.name ?? "a class"}`;
  return `a ${typeof v}`;
}

/** Reports an exception of an application callback without breaking the client. */
function report(e: unknown): void {
  queueMicrotask(() => {
    throw e;
  });
}

function toWebSocketURL(url: string | URL): URL {
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  const u = new URL(String(url), base);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new Error(`wsroute: ${u.protocol} is not a WebSocket URL (ws:, wss:, http: or https:)`);
  }
  return u;
}

class WsrouteClient<S extends ChannelSpec> implements Client<S> {
  private readonly url: URL;
  private readonly WS: WebSocketConstructor;
  private readonly routeKey: string;
  private readonly refKey: string;
  private readonly tokenParam: string;
  private readonly defaultTimeout: number;
  private readonly backoff: Backoff | false;
  private readonly opts: ClientOptions<S>;

  private _state: State = "connecting";
  private current: Attempt | undefined;
  private gen = 0; // bumps with every attempt; stale async steps compare it
  private nextRef = 0;
  private retries = 0; // reconnect attempts since the last stable connection
  private streak4401 = 0; // 4401 closes in a row
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private stableTimer: ReturnType<typeof setTimeout> | undefined;

  private readonly pending = new Map<string, Pending>(); // insertion order = queue order
  private readonly stateListeners = new Set<(state: State, info?: StateInfo) => void>();
  private readonly frameHandlers = new Set<(frame: unknown) => void>();
  private readonly topicHandlers = new Map<string, Set<(data: any, topic: string) => void>>();
  private readonly topics = new Set<string>(); // remembered subscriptions
  private readyWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];

  constructor(url: string | URL, options: ClientOptions<S>) {
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (typeof WS !== "function") {
      throw new Error(
        "wsroute: no WebSocket implementation: this runtime has no global WebSocket (Node < 22); " +
          'pass one as options.WebSocket, e.g. `import WebSocket from "ws"`',
      );
    }
    this.WS = WS;
    this.url = toWebSocketURL(url);
    this.opts = options;
    this.routeKey = options.routeKey ?? "action";
    this.refKey = options.refKey ?? "ref";
    this.tokenParam = options.tokenParam ?? "token";
    this.defaultTimeout = options.timeout ?? 10000;
    this.backoff = options.reconnect === false ? false : { ...defaultBackoff, ...stripUndefined(options.reconnect ?? {}) };
    if (options.subscribe && typeof options.subscribe.route !== "string") {
      throw new Error("wsroute: options.subscribe.route must name the subscribe route");
    }
    void this.attempt();
  }

  get state(): State {
    return this._state;
  }

  // ---- public API ----

  onState(listener: (state: State, info?: StateInfo) => void): () => void {
    this.stateListeners.add(listener);
    return () => void this.stateListeners.delete(listener);
  }

  onFrame(handler: (frame: unknown) => void): () => void {
    this.frameHandlers.add(handler);
    return () => void this.frameHandlers.delete(handler);
  }

  on<T extends keyof S["events"] & string>(topic: T, handler: (data: S["events"][T], topic: string) => void): () => void {
    let set = this.topicHandlers.get(topic);
    if (!set) this.topicHandlers.set(topic, (set = new Set()));
    set.add(handler);
    return () => {
      set.delete(handler);
      if (set.size === 0 && this.topicHandlers.get(topic) === set) this.topicHandlers.delete(topic);
    };
  }

  request(action: string, input?: unknown, options?: RequestOptions): Promise<any> {
    return this.enqueue(undefined, action, input, options);
  }

  send(action: string, input?: unknown): void {
    const at = this.current;
    if (this._state !== "open" || !at?.ready) {
      throw new WsrouteError("not_open", `wsroute: cannot send "${action}": the connection is ${this._state}`, { action });
    }
    this.sendFrame(at, action, input);
  }

  subscribe(topic: string, options?: RequestOptions): Promise<unknown> {
    const sub = this.opts.subscribe;
    if (!sub) return Promise.reject(new Error("wsroute: subscribe() needs options.subscribe (the subscribe route)"));
    this.topics.add(topic);
    return this.enqueue(undefined, sub.route, this.subscribeInput(topic), options, topic);
  }

  unsubscribe(topic: string, options?: RequestOptions): Promise<unknown> {
    const sub = this.opts.subscribe;
    if (!sub) return Promise.reject(new Error("wsroute: unsubscribe() needs options.subscribe"));
    this.topics.delete(topic);
    if (!sub.unsubscribeRoute) return Promise.resolve(undefined);
    return this.enqueue(undefined, sub.unsubscribeRoute, this.subscribeInput(topic), options);
  }

  ready(): Promise<void> {
    if (this._state === "open") return Promise.resolve();
    if (this._state === "closed") return Promise.reject(new WsrouteError("closed", "wsroute: the client is closed"));
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  close(code = 1000, reason = ""): void {
    if (this._state === "closed") return;
    const at = this.current;
    this.current = undefined;
    this.gen++;
    if (at) {
      try {
        at.ws.close(code, reason);
      } catch {
        at.ws.close();
      }
    }
    this.finish({ code, reason }, "the client was closed");
  }

  // ---- requests ----

  private subscribeInput(topic: string): unknown {
    const f = this.opts.subscribe?.input;
    return f ? f(topic) : { topic };
  }

  /** Builds the frame of a request (ref undefined: none) or throws for an unusable input. */
  private frame(action: string, ref: string | undefined, input: unknown): string {
    if (typeof action !== "string" || action === "") throw new TypeError("wsroute: the action must be a non-empty string");
    if (input === undefined) input = {};
    if (!isPlainObject(input)) {
      throw new TypeError(`wsroute: the input of "${action}" must be a plain object, not ${describe(input)}`);
    }
    const trace = this.opts.trace;
    const keys = trace ? [this.routeKey, this.refKey, trace.key] : [this.routeKey, this.refKey];
    for (const key of keys) {
      if (Object.prototype.hasOwnProperty.call(input, key)) {
        throw new TypeError(`wsroute: the input of "${action}" may not hold "${key}": the client sets it`);
      }
    }
    // Spread, not Object.assign: an own "__proto__" key of the input stays a field.
    const head: Record<string, unknown> = ref === undefined ? { [this.routeKey]: action } : { [this.routeKey]: action, [this.refKey]: ref };
    if (trace) {
      const tc = trace.context();
      if (tc && Object.keys(tc).length > 0) head[trace.key] = tc;
    }
    return JSON.stringify({ ...head, ...input });
  }

  private sendFrame(at: Attempt, action: string, input: unknown): void {
    at.ws.send(this.frame(action, undefined, input));
  }

  /**
   * Registers a request. via: the connection of onOpen's conn (sent at once there), or
   * undefined for the client's queue (sent now if open, else when the next connection is ready).
   */
  private enqueue(via: Attempt | undefined, action: string, input: unknown, options: RequestOptions = {}, topic?: string): Promise<any> {
    let frame: string;
    const ref = String(++this.nextRef);
    try {
      frame = this.frame(action, ref, input);
    } catch (e) {
      return Promise.reject(e);
    }
    if (this._state === "closed") {
      return Promise.reject(new WsrouteError("closed", `wsroute: "${action}": the client is closed`, { action, ref }));
    }
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const p: Pending = { ref, action, frame, resolve, reject };
      if (topic !== undefined) p.topic = topic;
      this.pending.set(ref, p);
      const timeout = options.timeout ?? this.defaultTimeout;
      if (timeout > 0 && Number.isFinite(timeout)) {
        p.timer = setTimeout(() => {
          this.settle(p, undefined, new WsrouteError("timeout", `wsroute: "${action}" got no reply within ${timeout} ms`, { retriable: true, action, ref }));
        }, timeout);
      }
      if (signal) {
        p.signal = signal;
        p.onAbort = () => this.settle(p, undefined, signal.reason);
        signal.addEventListener("abort", p.onAbort, { once: true });
      }
      if (via) {
        if (via === this.current && via.ws.readyState === OPEN) this.transmit(via, p);
        else this.settle(p, undefined, disconnected(p));
      } else if (this.current?.ready && this._state === "open") {
        this.transmit(this.current, p);
      }
    });
  }

  private transmit(at: Attempt, p: Pending): void {
    p.sentOn = at;
    try {
      at.ws.send(p.frame);
    } catch (e) {
      this.settle(p, undefined, new WsrouteError("disconnected", `wsroute: "${p.action}" could not be sent`, { retriable: true, action: p.action, ref: p.ref, cause: e }));
    }
  }

  /** Removes p and resolves (err undefined) or rejects it. */
  private settle(p: Pending, value: unknown, err?: unknown): void {
    if (this.pending.get(p.ref) !== p) return;
    this.pending.delete(p.ref);
    if (p.timer !== undefined) clearTimeout(p.timer);
    if (p.signal && p.onAbort) p.signal.removeEventListener("abort", p.onAbort);
    if (err !== undefined) {
      // A subscription the server refused is forgotten.
      if (p.topic !== undefined && err instanceof WsrouteError && !err.retriable && err.code !== "closed") this.topics.delete(p.topic);
      p.reject(err);
    } else {
      p.resolve(value);
    }
  }

  // ---- frames ----

  private receive(data: unknown): void {
    if (typeof data !== "string") {
      this.emitFrame(data);
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(data);
    } catch {
      this.emitFrame(data);
      return;
    }
    if (isPlainObject(msg)) {
      const ref = msg[this.refKey];
      if (typeof ref === "string") {
        const p = this.pending.get(ref);
        if (p?.sentOn) {
          const e = msg.error;
          if (typeof e === "object" && e !== null && !Array.isArray(e)) {
            const action = typeof msg[this.routeKey] === "string" ? (msg[this.routeKey] as string) : p.action;
            this.settle(p, undefined, errorFromFrame(e as Record<string, unknown>, action, ref));
          } else {
            this.settle(p, msg);
          }
          return;
        }
      }
      if (typeof msg.topic === "string" && "data" in msg && !(this.routeKey in msg) && !(this.refKey in msg)) {
        const handlers = this.topicHandlers.get(msg.topic);
        if (handlers) {
          for (const h of [...handlers]) {
            try {
              h(msg.data, msg.topic);
            } catch (err) {
              report(err);
            }
          }
        }
        return;
      }
    }
    this.emitFrame(msg);
  }

  private emitFrame(frame: unknown): void {
    for (const h of [...this.frameHandlers]) {
      try {
        h(frame);
      } catch (err) {
        report(err);
      }
    }
  }

  // ---- connection ----

  private setState(state: State, info?: StateInfo): void {
    if (this._state === state && state !== "reconnecting") return;
    this._state = state;
    for (const l of [...this.stateListeners]) {
      try {
        l(state, info);
      } catch (err) {
        report(err);
      }
    }
  }

  private async attempt(): Promise<void> {
    const gen = ++this.gen;
    let token: string | undefined | null;
    if (this.opts.token) {
      const opts = this.opts as Required<Pick<ClientOptions<S>, "token">>;
      try {
        // Always asynchronous, so that listeners added right after connect() see a failure.
        token = await Promise.resolve().then(() => opts.token());
      } catch (e) {
        if (gen === this.gen && this._state !== "closed") this.lost(undefined, { reason: `token() failed: ${errorText(e)}` });
        return;
      }
      if (gen !== this.gen || this._state === "closed") return;
    }
    const url = new URL(this.url);
    if (token) url.searchParams.set(this.tokenParam, token);
    let ws: WebSocketLike;
    try {
      ws = new this.WS(url.toString());
    } catch (e) {
      await Promise.resolve(); // as above
      if (gen === this.gen && this._state !== "closed") this.lost(undefined, { reason: `WebSocket: ${errorText(e)}` });
      return;
    }
    const at: Attempt = { ws, ready: false };
    this.current = at;
    ws.onerror = () => {}; // a close event follows; with ws, an unhandled "error" would throw
    ws.onopen = () => {
      if (this.current === at) void this.opened(at, gen);
    };
    ws.onmessage = (ev) => {
      if (this.current === at) this.receive(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.current !== at) return;
      this.current = undefined;
      this.lost(at, { code: Number(ev?.code ?? 1006), reason: at.failReason ?? String(ev?.reason ?? "") });
    };
  }

  private async opened(at: Attempt, gen: number): Promise<void> {
    if (this.opts.onOpen) {
      try {
        await this.opts.onOpen(this.conn(at));
      } catch (e) {
        if (this.current !== at) return;
        this.abandon(at, "onOpen failed", e);
        return;
      }
      if (this.current !== at || gen !== this.gen) return;
    }
    at.ready = true;
    const b = this.backoff;
    if (b) {
      this.stableTimer = setTimeout(() => {
        this.stableTimer = undefined;
        this.retries = 0;
        this.streak4401 = 0;
      }, b.stableAfter);
    }
    // Subscriptions first, answered before anything else goes out: "open" promises that the
    // topics' events flow, so an app that reloads its state on "open" misses no event (with a
    // parallel channel or a serverless one, a later request may otherwise overtake them).
    const sub = this.opts.subscribe;
    if (sub && this.topics.size > 0) {
      const restoring: Promise<unknown>[] = [];
      for (const topic of this.topics) {
        // A subscribe() call still queued is that topic's restore (its promise settles with it).
        const queued = [...this.pending.values()].find((p) => p.topic === topic && !p.sentOn);
        if (queued) {
          restoring.push(settledOf(queued));
          this.transmit(at, queued);
        } else {
          restoring.push(this.enqueue(at, sub.route, this.subscribeInput(topic), {}, topic).then(() => undefined, (e) => e));
        }
      }
      const errs = await Promise.all(restoring);
      if (this.current !== at || gen !== this.gen || this._state === "closed") return; // the socket is gone
      // A topic the server refused is forgotten (settle). One that failed for a passing reason
      // (timeout, rate_limited) would leave "open" deaf to it: reconnect with backoff instead.
      const passing = errs.find((e) => e instanceof WsrouteError && e.retriable);
      if (passing) {
        this.abandon(at, "restoring subscriptions failed", passing);
        return;
      }
    }
    // Then the queue, in the order the calls were made.
    for (const p of [...this.pending.values()]) if (!p.sentOn) this.transmit(at, p);
    this.setState("open"); // from here on, requests (the listeners' too) go out at once
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w.resolve();
  }

  /** Closes a socket the client gave up on while opening it; its close event reconnects with backoff. */
  private abandon(at: Attempt, what: string, cause: unknown): void {
    at.failReason = `${what}: ${errorText(cause)}`;
    try {
      at.ws.close(1000, what);
    } catch {
      at.ws.close();
    }
  }

  private conn(at: Attempt): Conn<S> {
    return {
      request: (action: string, input?: unknown, options?: RequestOptions) => this.enqueue(at, action, input, options),
      send: (action: string, input?: unknown) => {
        if (this.current !== at || at.ws.readyState !== OPEN) {
          throw new WsrouteError("not_open", `wsroute: cannot send "${action}": this connection is gone`, { action });
        }
        this.sendFrame(at, action, input);
      },
    } as Conn<S>;
  }

  /** A connection ended (at) or could not be made (at undefined): reconnect or give up. */
  private lost(at: Attempt | undefined, info: StateInfo): void {
    if (this.stableTimer !== undefined) {
      clearTimeout(this.stableTimer);
      this.stableTimer = undefined;
    }
    if (at) {
      for (const p of [...this.pending.values()]) {
        if (p.sentOn === at) this.settle(p, undefined, disconnected(p));
      }
    }
    if (this._state === "closed") return;
    const b = this.backoff;
    if (!b) return this.finish(info, "the connection closed and reconnecting is off");
    if (info.code === 1008) return this.finish(info, `the server closed the connection: policy violation${info.reason ? ` (${info.reason})` : ""}`);
    let delay: number | undefined;
    if (info.code === 4401) {
      this.streak4401++;
      if (this.streak4401 === 1) delay = 0; // the session expired: get a new token and come back at once
    } else {
      this.streak4401 = 0;
    }
    if (delay === undefined) {
      if (this.retries >= b.maxRetries) return this.finish(info, `gave up after ${this.retries} reconnect attempts`);
      delay = backoffDelay(this.retries, b);
      this.retries++;
    }
    this.setState("reconnecting", info);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this._state !== "closed") void this.attempt();
    }, delay);
  }

  /** The final state: nothing pending, no timers, no socket. */
  private finish(info: StateInfo, why: string): void {
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    if (this.stableTimer !== undefined) clearTimeout(this.stableTimer);
    this.reconnectTimer = this.stableTimer = undefined;
    this.gen++;
    const at = this.current;
    this.current = undefined;
    if (at) {
      try {
        at.ws.close();
      } catch {
        /* already closing */
      }
    }
    this.setState("closed", info);
    for (const p of [...this.pending.values()]) {
      this.settle(p, undefined, new WsrouteError("closed", `wsroute: "${p.action}": ${why}`, { action: p.action, ref: p.ref }));
    }
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w.reject(new WsrouteError("closed", `wsroute: ${why}`));
  }
}

function disconnected(p: Pending): WsrouteError {
  return new WsrouteError("disconnected", `wsroute: "${p.action}": the connection was lost before its reply`, {
    retriable: true,
    action: p.action,
    ref: p.ref,
  });
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
