export {
  ClarionClient,
  getWebSocketClient,
  resetWebSocketClient,
  notificationsStream,
  NOTIFICATIONS_PATH,
  DEFAULT_FALLBACK,
  type ClarionClientOptions,
  type ClientEvents,
  type ClientSnapshot,
  type FallbackOptions,
  type Transport,
} from "./client.js";
export {
  StreamConnection,
  DEFAULT_HEARTBEAT,
  DEFAULT_RECONNECT,
  DEFAULT_TRANSPORT_FALLBACK,
  type AttemptFailure,
  type CloseCause,
  type ConnectionState,
  type CredentialSource,
  type FrameEvents,
  type HeartbeatOptions,
  type ReconnectOptions,
  type SendResult,
  type SocketCredential,
  type StreamEvents,
  type StreamLifecycleEvents,
  type StreamOptions,
  type StreamSpec,
  type TransportFallback,
} from "./stream.js";
export { ACK_INTERVAL, Acknowledger, type AckTransport } from "./acks.js";
export { Auth, CredentialRefusedError, refreshingToken, type RefreshingTokenOptions, type TokenContext, type TokenProvider, type TokenSource } from "./auth.js";
export { ApiError, RestApi, jwtExpiry, obtainTokenPair, pageCursor, refreshAccessToken, type ActionTargets, type FetchLike, type ListOptions, type RestApiOptions, type RestInboxAction } from "./rest.js";
export { backoffCeiling, backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
export { MemoryCursorStore, type CursorStore } from "./cursors.js";
export { RecentKeys } from "./dedupe.js";
export { BoundedQueue } from "./queue.js";
export { Emitter, type Handler, type Unsubscribe } from "./emitter.js";
export { globalEnvironment, withWebSocket, type Environment, type WebSocketConstructor, type WebSocketLike } from "./env.js";
export { NotificationsPolling, DEFAULT_POLLING, type PollingHost, type PollingOptions } from "./polling.js";
export { decide, type Decision, type Ending, type StreamStanding } from "./reconnect.js";
export { TransportBlocked, WebSocketTransport, type ConnectRequest, type Transport as FrameTransport, type TransportConnection, type TransportHandlers } from "./transport.js";
export { NotificationStore, type NotificationsView } from "./store.js";
export * from "./types.js";
export * from "./streams.js";
