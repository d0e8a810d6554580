// The client's state machine and frame handling against a scripted fake WebSocket, with mocked
// timers: what a real server cannot show deterministically (the order of frames after an open,
// the 4401 streak, the stable-connection reset, frames that are not JSON).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, WsrouteError, type ClientOptions } from "../dist/index.js";

class FakeWS {
  static all: FakeWS[] = [];
  readyState = 0;
  sent: any[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {
    FakeWS.all.push(this);
  }
  send(data: string) {
    if (this.readyState !== 1) throw new Error("not open");
    this.sent.push(JSON.parse(data));
  }
  close(code?: number, reason?: string) {
    if (this.readyState === 3) return;
    this.drop(code ?? 1005, reason ?? "");
  }
  // --- driven by the test ---
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  message(data: unknown) {
    this.onmessage?.({ data: typeof data === "string" || data instanceof Uint8Array ? data : JSON.stringify(data) });
  }
  drop(code: number, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  reply(i: number, fields: object = {}) {
    const f = this.sent[i];
    this.message({ action: f.action, ref: f.ref, ...fields });
  }
}

function fresh(opts: ClientOptions = {}) {
  FakeWS.all = [];
  const c = connect("ws://fake/lab", { WebSocket: FakeWS, ...opts });
  return { c, ws: (i: number) => FakeWS.all[i]! };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

test("after an open: onOpen's requests first, then restored subscriptions (answered), then the queue in call order", async () => {
  const { c, ws } = fresh({
    subscribe: { route: "subscribe" },
    onOpen: async (conn) => {
      await conn.request("login", { token: "t" });
    },
    reconnect: { initialDelay: 1, jitter: 0 },
  });
  const sub = c.subscribe("news");
  const q1 = c.request("echo", { text: "1" });
  const q2 = c.request("echo", { text: "2" });
  ws(0).open();
  assert.deepEqual(ws(0).sent.map((f) => f.action), ["login"], "nothing else before onOpen finished");
  assert.equal(c.state, "connecting");
  ws(0).reply(0, { user: "u" });
  await flush();
  assert.deepEqual(ws(0).sent.map((f) => [f.action, f.topic ?? f.text]), [["login", undefined], ["subscribe", "news"]]);
  assert.equal(c.state, "connecting", "not open before the subscriptions are restored");
  const early = c.request("echo", { text: "3" }); // made while restoring: queued behind the rest
  ws(0).reply(1, { subscribed: "news" });
  await sub;
  await flush();
  assert.deepEqual(ws(0).sent.map((f) => [f.action, f.topic ?? f.text]), [["login", undefined], ["subscribe", "news"], ["echo", "1"], ["echo", "2"], ["echo", "3"]]);
  assert.equal(c.state, "open");
  ws(0).reply(4, { text: "3" });
  await early;
  ws(0).reply(3, { text: "2" }); // out of order
  ws(0).reply(2, { text: "1" });
  assert.equal((await q1).text, "1");
  assert.equal((await q2).text, "2");

  // A reconnect restores the subscription after onOpen, and replays nothing else.
  const pending = c.request("echo", { text: "lost" });
  ws(0).drop(1006);
  await assert.rejects(pending, (e: unknown) => e instanceof WsrouteError && e.code === "disconnected" && e.retriable);
  await new Promise((r) => setTimeout(r, 5));
  ws(1).open();
  ws(1).reply(0);
  await flush();
  assert.deepEqual(ws(1).sent.map((f) => f.action), ["login", "subscribe"]);
  assert.equal(c.state, "reconnecting");
  ws(1).reply(1, { error: { code: "forbidden", message: "no" } }); // a refused restore: forgotten, and open
  await flush();
  assert.equal(c.state, "open");
  ws(1).drop(1006);
  await new Promise((r) => setTimeout(r, 5));
  ws(2).open();
  ws(2).reply(0);
  await flush();
  assert.deepEqual(ws(2).sent.map((f) => f.action), ["login"], "the refused topic is not restored again");
  assert.equal(c.state, "open");
  c.close();
});

test("a restore that fails for a passing reason (rate_limited) reconnects instead of opening deaf", async () => {
  const { c, ws } = fresh({ subscribe: { route: "subscribe" }, reconnect: { initialDelay: 1, jitter: 0 } });
  const states: string[] = [];
  c.onState((s, info) => states.push(info?.reason ? `${s}: ${info.reason}` : s));
  const sub = c.subscribe("news");
  ws(0).open();
  ws(0).reply(0, { subscribed: "news" });
  await sub;
  ws(0).drop(1006);
  await new Promise((r) => setTimeout(r, 5));
  ws(1).open();
  await flush();
  assert.deepEqual(ws(1).sent.map((f) => f.action), ["subscribe"]);
  ws(1).reply(0, { error: { code: "rate_limited", message: "slow down" } });
  await flush();
  assert.equal(ws(1).readyState, 3, "the socket is closed");
  assert.match(states.at(-1)!, /^reconnecting: restoring subscriptions failed/);
  await new Promise((r) => setTimeout(r, 5));
  ws(2).open();
  await flush();
  assert.deepEqual(ws(2).sent.map((f) => f.action), ["subscribe"], "the topic is still remembered");
  ws(2).reply(0, { subscribed: "news" });
  await flush();
  assert.equal(c.state, "open");
  assert.ok(!states.slice(0, -1).slice(1).includes("open"), states.join(" | "));
  c.close();
});

test("frames: non-JSON as the raw string, binary as is, unknown refs and arrays to onFrame, topic events to on() only", async () => {
  const { c, ws } = fresh();
  const frames: unknown[] = [];
  const events: unknown[] = [];
  c.onFrame((f) => frames.push(f));
  const off = c.on("news", (d, topic) => events.push([topic, d]));
  ws(0).open();
  const bin = new Uint8Array([1, 2]);
  ws(0).message("not json");
  ws(0).message(bin);
  ws(0).message({ action: "x", ref: "999" });
  ws(0).message([1, 2]);
  ws(0).message({ topic: "news", data: { n: 1 } });
  ws(0).message({ topic: "other", data: 1 });
  off();
  ws(0).message({ topic: "news", data: { n: 2 } });
  assert.deepEqual(frames, ["not json", bin, { action: "x", ref: "999" }, [1, 2]]);
  assert.deepEqual(events, [["news", { n: 1 }]]);
  c.close();
});

test("4401: at once the first time in a row, with backoff the second; a stable connection resets the streak", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const { c, ws } = fresh({ reconnect: { initialDelay: 1000, jitter: 0, stableAfter: 5000 } });
  const states: string[] = [];
  c.onState((s, info) => states.push(info?.code ? `${s}:${info.code}` : s));
  ws(0).open();
  ws(0).drop(4401, "session expired");
  t.mock.timers.tick(0);
  assert.equal(FakeWS.all.length, 2, "reconnected at once");
  ws(1).open();
  ws(1).drop(4401);
  t.mock.timers.tick(999);
  assert.equal(FakeWS.all.length, 2, "the second 4401 in a row waits for the backoff");
  t.mock.timers.tick(1);
  assert.equal(FakeWS.all.length, 3);
  ws(2).open();
  t.mock.timers.tick(5000); // stable: streak and attempts reset
  ws(2).drop(4401);
  t.mock.timers.tick(0);
  assert.equal(FakeWS.all.length, 4, "at once again after a stable connection");
  ws(3).drop(1006); // never opened
  t.mock.timers.tick(999);
  assert.equal(FakeWS.all.length, 4);
  t.mock.timers.tick(1);
  assert.equal(FakeWS.all.length, 5, "the attempt count was reset: the first backoff step again");
  ws(4).drop(1006);
  t.mock.timers.tick(1999);
  assert.equal(FakeWS.all.length, 5, "then it doubles");
  t.mock.timers.tick(1);
  assert.equal(FakeWS.all.length, 6);
  assert.deepEqual(states, ["open", "reconnecting:4401", "open", "reconnecting:4401", "open", "reconnecting:4401", "reconnecting:1006", "reconnecting:1006"]);
  c.close();
  assert.equal(c.state, "closed");
});

test("reconnect: false closes on any drop; 1008 closes even with reconnect on", () => {
  const a = fresh({ reconnect: false });
  a.ws(0).open();
  a.ws(0).drop(1001, "server shutdown");
  assert.equal(a.c.state, "closed");
  assert.equal(FakeWS.all.length, 1);

  const b = fresh();
  let info: unknown;
  b.c.onState((s, i) => s === "closed" && (info = i));
  b.ws(0).open();
  b.ws(0).drop(1008, "policy");
  assert.equal(b.c.state, "closed");
  assert.deepEqual(info, { code: 1008, reason: "policy" });
});

test("a failing token() counts as a failed attempt", async () => {
  let calls = 0;
  const { c } = fresh({
    token: () => {
      calls++;
      if (calls === 1) throw new Error("no token yet");
      return "t2";
    },
    reconnect: { initialDelay: 1, jitter: 0 },
  });
  await new Promise<void>((res) => c.onState((s) => s === "reconnecting" && res()));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(FakeWS.all.length, 1);
  assert.equal(new URL(FakeWS.all[0]!.url).searchParams.get("token"), "t2");
  c.close();
});

test("trace: the context goes in the trace key's field of every frame; none when empty; the input may not hold it", async () => {
  let tc: Record<string, string> | undefined = { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" };
  const { c, ws } = fresh({ trace: { key: "trace", context: () => tc }, reconnect: false });
  ws(0).open();
  await flush();
  const r = c.request("echo", { s: 1 });
  c.send("note", { s: 2 });
  tc = undefined;
  c.send("note", { s: 3 });
  assert.deepEqual(ws(0).sent, [
    { action: "echo", ref: "1", trace: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }, s: 1 },
    { action: "note", trace: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }, s: 2 },
    { action: "note", s: 3 },
  ]);
  ws(0).reply(0);
  await r;
  await assert.rejects(c.request("echo", { trace: "mine" }), /may not hold "trace"/);
  c.close();
});

test("rate_limited error frames are retriable and carry retryAfterMs; other error frames are not", async () => {
  const { c, ws } = fresh({ reconnect: false });
  ws(0).open();
  await flush();
  const limited = c.request("echo");
  const denied = c.request("echo");
  await flush();
  ws(0).reply(0, { error: { code: "rate_limited", message: "slow down", retryAfterMs: 250 } });
  ws(0).reply(1, { error: { code: "forbidden", message: "no" } });
  await assert.rejects(limited, (e: unknown) => e instanceof WsrouteError && e.retriable && e.retryAfterMs === 250);
  await assert.rejects(denied, (e: unknown) => e instanceof WsrouteError && e.code === "forbidden" && !e.retriable);
  c.close();
});
