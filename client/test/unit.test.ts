// Parts of the runtime that need no server: backoff arithmetic, option checks, and the
// type-level contract (this file does not compile if the public types regress).
import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, connect, defaultBackoff, type ChannelSpec, type Client, type WebSocketConstructor } from "../dist/index.js";

test("backoff: exponential, capped, proportional jitter", () => {
  const b = { ...defaultBackoff, initialDelay: 100, maxDelay: 1000, factor: 2, jitter: 0.5 };
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, b, () => 0)), [100, 200, 400, 800, 1000, 1000]);
  assert.equal(backoffDelay(1, b, () => 1), 100, "at most half of 200 taken off");
  assert.equal(backoffDelay(1, b, () => 0.5), 150);
  assert.equal(backoffDelay(3, { ...b, jitter: 0 }, () => 1), 800);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(2, b);
    assert.ok(d >= 200 && d <= 400, String(d));
  }
});

test("connect without a WebSocket implementation fails clearly", { skip: typeof (globalThis as any).WebSocket === "function" ? "this Node has a global WebSocket" : false }, () => {
  assert.throws(() => connect("ws://127.0.0.1:1/x"), /no WebSocket implementation.*options\.WebSocket/s);
});

test("connect refuses URLs that are not WebSocket or HTTP URLs", () => {
  const Fake = class {} as unknown as WebSocketConstructor;
  assert.throws(() => connect("ftp://127.0.0.1/x", { WebSocket: Fake }), /not a WebSocket URL/);
});

test("http: URLs become ws:, and the token goes in the query", async () => {
  const urls: string[] = [];
  class Fake {
    readyState = 0;
    onopen: any = null;
    onmessage: any = null;
    onclose: any = null;
    onerror: any = null;
    constructor(url: string) {
      urls.push(url);
      queueMicrotask(() => this.onclose?.({ code: 1008, reason: "stop" }));
    }
    send() {}
    close() {}
  }
  const c = connect("http://127.0.0.1:9/lab?x=1", { WebSocket: Fake, token: () => "s3cret", tokenParam: "t" });
  await new Promise<void>((res) => c.onState((s) => s === "closed" && res()));
  assert.deepEqual(urls, ["ws://127.0.0.1:9/lab?x=1&t=s3cret"]);
});

// ---- type level: checked by the compiler, never run ----
interface Todos extends ChannelSpec {
  requests: {
    create: { input: { title: string }; reply: { todo: { id: string } } };
    list: { input: {}; reply: { todos: string[] } };
    search: { input: { q?: string }; reply: { hits: number } };
  };
  events: { todos: { event: string }; [k: `rooms/${string}`]: { text: string } };
}
export async function typeLevel(c: Client<Todos>) {
  const created: { todo: { id: string } } = await c.request("create", { title: "milk" });
  const listed: string[] = (await c.request("list")).todos;
  const hits: number = (await c.request("search")).hits;
  await c.request("search", { q: "x" }, { timeout: 5 });
  // @ts-expect-error the input is required when {} is not a valid input
  await c.request("create");
  // @ts-expect-error wrong input type
  await c.request("create", { title: 1 });
  // @ts-expect-error unknown action
  await c.request("nope");
  c.on("todos", (ev) => ev.event.toUpperCase());
  c.on("rooms/lobby", (ev, topic) => ev.text + topic);
  // @ts-expect-error unknown topic
  c.on("other", () => {});
  c.send("create", { title: "x" });
  // The DOM's WebSocket (browsers, Node 22) fits the constructor option as it is.
  const any = connect("ws://x", { WebSocket: globalThis.WebSocket });
  await any.request("whatever", { a: 1 });
  await any.request("whatever");
  return [created, listed, hits];
}
