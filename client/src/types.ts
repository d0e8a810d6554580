/** The client's connection state: connecting (the first time) → open ↔ reconnecting → closed. */
export type State = "connecting" | "open" | "reconnecting" | "closed";

/** What onState listeners learn with "reconnecting" and "closed": the close that caused it. */
export interface StateInfo {
  code?: number;
  reason?: string;
}

/** A channel's typed contract; generated code declares interfaces of this shape. */
export interface ChannelSpec {
  requests: { [action: string]: { input: unknown; reply: unknown } };
  events: { [topic: string]: unknown };
}

/** The contract of a channel whose types are not known: any action, any topic. */
export interface AnyChannel extends ChannelSpec {
  requests: Record<string, { input: any; reply: any }>;
  events: Record<string, any>;
}

export interface RequestOptions {
  /** Milliseconds until the request rejects with code "timeout"; default ClientOptions.timeout. 0 or Infinity: none. */
  timeout?: number;
  /** Aborting rejects the request with signal.reason. */
  signal?: AbortSignal;
}

/** The part of the WebSocket API the client uses: browsers' and Node 22's WebSocket, and the ws package, fit it. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: any) => any) | null;
  /** Gets events with `data` (a string for text frames). */
  onmessage: ((ev: any) => any) | null;
  /** Gets events with `code` and `reason`. */
  onclose: ((ev: any) => any) | null;
  onerror: ((ev: any) => any) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ReconnectOptions {
  /** First delay, ms. Default 500. */
  initialDelay?: number;
  /** Largest delay, ms. Default 10000. */
  maxDelay?: number;
  /** Each failed attempt multiplies the delay by this. Default 2. */
  factor?: number;
  /** Up to this fraction of the delay is taken off at random (proportional jitter). Default 0.5. */
  jitter?: number;
  /** Reconnect attempts after which the client gives up (state "closed"). Default Infinity. */
  maxRetries?: number;
  /** The backoff resets only after a connection stayed open this long, ms. Default 5000. */
  stableAfter?: number;
}

export interface SubscribeConfig {
  /** The route that subscribes, e.g. "subscribe". */
  route: string;
  /** The route that unsubscribes; without it unsubscribe() only forgets the topic. */
  unsubscribeRoute?: string;
  /** The input of both routes for a topic. Default topic => ({ topic }). */
  input?: (topic: string) => unknown;
}

/** The input type of action A of S. */
export type InputOf<S extends ChannelSpec, A extends keyof S["requests"]> = S["requests"][A]["input"];
/** The reply type of action A of S. */
export type ReplyOf<S extends ChannelSpec, A extends keyof S["requests"]> = S["requests"][A]["reply"];
/** request()'s arguments after the action: the input may be left out when {} is a valid input. */
export type RequestArgs<In> = {} extends In ? [input?: In, options?: RequestOptions] : [input: In, options?: RequestOptions];
/** send()'s arguments after the action. */
export type SendArgs<In> = {} extends In ? [input?: In] : [input: In];

/**
 * One connection of a client. onOpen gets it: its requests go out at once on that connection
 * (the client's own queue waits for onOpen), and reject "disconnected" if it is gone.
 */
export interface Conn<S extends ChannelSpec = AnyChannel> {
  request<A extends keyof S["requests"] & string>(action: A, ...args: RequestArgs<InputOf<S, A>>): Promise<ReplyOf<S, A>>;
  send<A extends keyof S["requests"] & string>(action: A, ...args: SendArgs<InputOf<S, A>>): void;
}

export interface ClientOptions<S extends ChannelSpec = AnyChannel> {
  /** The WebSocket constructor. Default globalThis.WebSocket (browsers, Node ≥ 22); on Node 20 pass the ws package's. */
  WebSocket?: WebSocketConstructor;
  /** The route key. Default "action". */
  routeKey?: string;
  /** The correlation key. Default "ref". */
  refKey?: string;
  /** Called before every (re)connect; a non-empty value is sent as ?<tokenParam>=. */
  token?: () => string | undefined | null | Promise<string | undefined | null>;
  /** Default "token". */
  tokenParam?: string;
  /**
   * Runs after every (re)open, before queued requests go out and before subscriptions are
   * restored (log in by message here). The state becomes "open" once the subscriptions are
   * restored (their replies received) and the queue is sent: reload state there, not here. If it throws or rejects, the socket is closed and the
   * client reconnects with backoff.
   */
  onOpen?: (conn: Conn<S>) => void | Promise<void>;
  /** The application's subscribe routes; needed by subscribe(). */
  subscribe?: SubscribeConfig;
  /** Default request timeout, ms. Default 10000. */
  timeout?: number;
  /** false: never reconnect. Default: reconnect with the defaults of ReconnectOptions. */
  reconnect?: false | ReconnectOptions;
  /**
   * Sends trace context with every request and send, in the field the channel names with
   * ChannelConfig.TraceKey (off on the server by default): `context` returns the headers of the
   * current trace, e.g. `{ traceparent: "00-…" }` from an OpenTelemetry propagator; nothing is
   * sent when it returns undefined or an empty object. The server's message span continues it.
   */
  trace?: TraceConfig;
}

export interface TraceConfig {
  /** The channel's ChannelConfig.TraceKey, e.g. "trace". */
  key: string;
  /** The trace context to send with the next frame (W3C traceparent/tracestate). */
  context: () => Record<string, string> | undefined | null;
}

export interface Client<S extends ChannelSpec = AnyChannel> extends Conn<S> {
  readonly state: State;
  /** Calls listener on every state change; returns a function that removes it. */
  onState(listener: (state: State, info?: StateInfo) => void): () => void;
  /** Handles topic events {"topic":topic,"data":...} of exactly this topic. */
  on<T extends keyof S["events"] & string>(topic: T, handler: (data: S["events"][T], topic: string) => void): () => void;
  /** Gets every frame that is neither the reply to a pending request nor a topic event. */
  onFrame(handler: (frame: unknown) => void): () => void;
  /** Subscribes with options.subscribe.route; the topic is remembered and restored after every reconnect. */
  subscribe(topic: string, options?: RequestOptions): Promise<unknown>;
  /** Forgets the topic and unsubscribes with options.subscribe.unsubscribeRoute (if any). */
  unsubscribe(topic: string, options?: RequestOptions): Promise<unknown>;
  /** Resolves when the state is "open" (now or next); rejects if the client closes first. */
  ready(): Promise<void>;
  /** Closes for good: state "closed", no reconnect, pending requests reject with code "closed". */
  close(code?: number, reason?: string): void;
}
