// Type-level test of bindings generated from a hand-made document
// (fixtures/chat.asyncapi.json → fixtures/chat.gen.ts, `npm run gen:fixtures`):
// a topic with a parameter, result replies, an ack, custom keys, a route
// name that is not an identifier. Compiled with `tsc --noEmit -p test-types`.
import { connect, type ChannelSpec } from "../src/index.js";
import {
  channels,
  type ChatChannel,
  type ChatRoomLeaveReply,
  type Message,
  type RoomsLobbyEvent,
} from "./fixtures/chat.gen.js";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | void {}

assertType<ChatChannel extends ChannelSpec ? true : false>();
assertType<Equal<typeof channels.chat.routeKey, "type">>();
assertType<Equal<typeof channels.chat.refKey, "id">>();

const chat = connect<ChatChannel>(new URL(channels.chat.address.replace("{room}", "lobby"), "ws://localhost"), {
  routeKey: channels.chat.routeKey,
  refKey: channels.chat.refKey,
});

async function replies(): Promise<void> {
  // An array output comes under result (a nil slice is null: the ack, so result is optional).
  const h = await chat.request("history", { limit: 10 });
  assertType<Equal<typeof h.result, Message[] | undefined>>();
  // A number output: result is required.
  const c = await chat.request("count");
  const n: number = c.result;
  void n;
  // A route with no reply message: the bare ack, route key and ref.
  const ack = await chat.request("room.leave", { reason: "bye" });
  assertType<Equal<typeof ack, ChatRoomLeaveReply>>();
  assertType<Equal<typeof ack.type, "room.leave">>();
  // @ts-expect-error an ack has nothing else
  void ack.result;
  // An any-value output: result is unknown, and so are merged fields.
  const raw = await chat.request("raw");
  assertType<Equal<typeof raw.result, unknown>>();
  assertType<Equal<typeof raw.whatever, unknown>>();
  // A self-referencing route schema.
  await chat.request("say", { text: "hi", replyTo: { text: "hello" } });
  // @ts-expect-error say is strict, and so is the nested input
  await chat.request("say", { text: "hi", replyTo: { text: "hello", extra: 1 } });
  // @ts-expect-error the correlation key is not part of the input (the client adds it)
  await chat.request("say", { text: "hi", id: 1 });
  // @ts-expect-error count's result is a number
  const s: string = c.result;
  void s;
}

function events(): void {
  // A parameterised topic is a template-literal key: any room fits.
  chat.on("rooms/kitchen", (m) => {
    assertType<Equal<typeof m, Message | RoomsLobbyEvent>>();
  });
  // The literal topic its pattern also matches keeps its own type.
  chat.on("rooms/lobby", (e) => {
    const online: number = e.online;
    void online;
  });
  chat.on("presence", (who) => {
    // @ts-expect-error presence may be null
    void who.length;
  });
  // @ts-expect-error the topic must start with rooms/
  chat.on("room/kitchen", () => {});
  // @ts-expect-error not a declared topic
  chat.on("typing", () => {});
}

void replies, events;
