export { connect, Client, Subscription, Message } from "./client.js";
export type { ConnectOptions, PublishOptions, PubAck, SubscribeOptions, Start, Handler, Status, ClientEvents } from "./client.js";
export { SampanError, ErrorCode, errorCodeName } from "./errors.js";
export { validateChannel, FrameReader, type ConnAck } from "./protocol.js";
export type { WebSocketConstructor, WebSocketLike } from "./transport.js";
