export { connect, backoffDelay, defaultBackoff } from "./client.js";
export type { Backoff } from "./client.js";
export { WsrouteError } from "./errors.js";
export type { ErrorDetail, WsrouteErrorInit } from "./errors.js";
export type {
  AnyChannel,
  ChannelSpec,
  Client,
  ClientOptions,
  Conn,
  InputOf,
  ReconnectOptions,
  ReplyOf,
  RequestArgs,
  RequestOptions,
  SendArgs,
  State,
  StateInfo,
  SubscribeConfig,
  TraceConfig,
  WebSocketConstructor,
  WebSocketLike,
} from "./types.js";
