// The client against the real Go test server (client/testserver): one server for this file.
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { WsrouteError, type ChannelSpec } from "../dist/index.js";
import { TestServer, cleanupAll, client, closeClients, next, stateIs, withTimeout } from "./helpers.js";

interface NewsEvent {
  seq: number;
  text: string;
  by: string;
}
interface ChatEvent {
  room: string;
  user: string;
  text: string;
}
type Frame<A extends string, T = {}> = { action: A; ref: string } & T;

/** The lab channel's contract, as generated code would declare it. */
interface Lab extends ChannelSpec {
  requests: {
    login: { input: { token: string }; reply: Frame<"login", { user: string }> };
    whoami: { input: {}; reply: Frame<"whoami", { user: string }> };
    echo: { input: { text: string; n?: number }; reply: Frame<"echo", { text: string; n: number }> };
    sleep: { input: { ms: number; id?: string }; reply: Frame<"sleep", { id: string; slept: number }> };
    list: { input: {}; reply: Frame<"list", { result: string[] }> };
    ping: { input: {}; reply: Frame<"ping"> };
    buy: { input: { item: string }; reply: Frame<"buy", { item: string; bought: boolean }> };
    record: { input: { value: string }; reply: Frame<"record"> };
    recorded: { input: {}; reply: Frame<"recorded", { values: string[] }> };
    issueToken: { input: { user: string; ttlMs?: number }; reply: Frame<"issueToken", { token: string }> };
    stats: { input: {}; reply: Frame<"stats", { opens: Record<string, number> }> };
    awaitSubscribers: { input: { topic: string; count: number; timeoutMs?: number }; reply: Frame<"awaitSubscribers", { subscribers: number }> };
    announce: { input: { text: string }; reply: Frame<"announce", { seq: number }> };
    notify: { input: { text: string }; reply: Frame<"notify"> };
    subscribe: { input: { topic: string }; reply: Frame<"subscribe", { subscribed: string }> };
    unsubscribe: { input: { topic: string }; reply: Frame<"unsubscribe", { unsubscribed: string }> };
  };
  events: { news: NewsEvent; [room: `rooms/${string}`]: ChatEvent };
}

interface Room extends ChannelSpec {
  requests: {
    whoami: { input: {}; reply: Frame<"whoami", { user: string; room: string; token: string }> };
    say: { input: { text: string }; reply: Frame<"say"> };
    kick: { input: {}; reply: never };
  };
  events: { [room: `rooms/${string}`]: ChatEvent };
}

const subscribeRoutes = { route: "subscribe", unsubscribeRoute: "unsubscribe" };

let server: TestServer;
before(async () => {
  server = await TestServer.start();
});
afterEach(() => closeClients());
after(async () => {
  assert.equal(await server.kill("SIGTERM"), 0, "the server shut down cleanly on SIGTERM");
  await cleanupAll();
});

function lab(opts: Parameters<typeof client<Lab>>[1] = {}) {
  return client<Lab>(server.url("/lab"), opts);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await withTimeout(p, 5000, "promise did not settle");
  } catch (e) {
    return e;
  }
  assert.fail("expected a rejection");
}

test("1,000 concurrent requests answered out of order are each matched to their reply", async () => {
  const c = lab();
  await withTimeout(c.ready(), 5000, "not open");
  const n = 1000;
  const order: number[] = [];
  const all = Array.from({ length: n }, async (_, i) => {
    const ms = Math.floor(Math.random() * 40);
    const r = await c.request("sleep", { ms, id: String(i) }, { timeout: 20_000 });
    order.push(i);
    assert.equal(r.id, String(i), `reply for ${i} carries id ${r.id}`);
    assert.equal(r.slept, ms);
    assert.equal(r.action, "sleep");
    return r.ref;
  });
  const refs = await withTimeout(Promise.all(all), 25_000, "1,000 replies");
  assert.equal(new Set(refs).size, n, "every request had its own ref");
  assert.equal(order.length, n);
  const inOrder = order.every((v, i) => i === 0 || v > order[i - 1]!);
  assert.ok(!inOrder, "replies came back in order: the test did not exercise out-of-order correlation");
});

test("replies: an object's fields, a slice as result, a bare ack", async () => {
  const c = lab();
  const echo = await c.request("echo", { text: "hi", n: 3 }); // queued until open
  assert.deepEqual({ ...echo, ref: "x" }, { action: "echo", ref: "x", text: "hi", n: 3 });
  const list = await c.request("list");
  assert.deepEqual(list.result, ["alpha", "beta", "gamma"]);
  const ping = await c.request("ping", {});
  assert.deepEqual(Object.keys(ping).sort(), ["action", "ref"]);
  assert.equal(ping.action, "ping");
});

test("error frames reject with WsrouteError: invalid with details, not_found, an application code", async () => {
  const c = lab();
  const inv = await rejection(c.request("echo", { text: "", n: -1, extra: true } as any));
  assert.ok(inv instanceof WsrouteError);
  assert.equal(inv.code, "invalid");
  assert.equal(inv.retriable, false);
  assert.equal(inv.action, "echo");
  assert.equal(typeof inv.ref, "string");
  assert.ok(inv.message.length > 0);
  const pointers = (inv.details ?? []).map((d) => d.pointer).sort();
  assert.deepEqual(pointers, ["", "/n", "/text"]);
  for (const d of inv.details!) assert.ok(d.message.length > 0, `detail ${d.pointer} has a message`);

  // The lab channel has a default handler; the rooms channel answers unknown actions with not_found.
  const room = client<Room>(server.url("/rooms/errors"), { token: () => "alice-token" });
  const nf = await rejection(room.request("nope" as any));
  assert.ok(nf instanceof WsrouteError);
  assert.equal(nf.code, "not_found");
  assert.equal(nf.action, "nope");
  assert.equal(nf.retriable, false);

  const app = await rejection(c.request("buy", { item: "pear" }));
  assert.ok(app instanceof WsrouteError);
  assert.equal(app.code, "out_of_stock");
  assert.equal(app.message, "no pear left");
  assert.equal(app.details, undefined);
  assert.equal(app.retriable, false);

  const unauth = await rejection(c.request("whoami"));
  assert.ok(unauth instanceof WsrouteError);
  assert.equal(unauth.code, "unauthenticated");

  assert.deepEqual((await c.request("buy", { item: "apple" })).bought, true);
});

test("the client's own arguments: inputs that are not plain objects are refused", async () => {
  const c = lab();
  await withTimeout(c.ready(), 5000, "not open");
  for (const bad of [[1], "text", 5, null, new Date()]) {
    const e = await rejection(c.request("echo", bad as any));
    assert.ok(e instanceof TypeError, `input ${String(bad)}: ${String(e)}`);
    assert.match((e as Error).message, /plain object/);
  }
  const own = await rejection(c.request("echo", { text: "x", ref: "1" } as any));
  assert.ok(own instanceof TypeError);
  assert.match((own as Error).message, /"ref"/);
  assert.throws(() => c.send("echo", [1] as any), /plain object/);
});

test("a timeout rejects with code timeout; the late reply goes to onFrame", async () => {
  const c = lab();
  const frames: unknown[] = [];
  c.onFrame((f) => frames.push(f));
  await withTimeout(c.ready(), 5000, "not open");
  const late = next<any>((h) => c.onFrame(h), (f) => f?.id === "late", 5000, "late reply");
  let lateArrived = false;
  void late.then(() => (lateArrived = true));
  const e = await rejection(c.request("sleep", { ms: 500, id: "late" }, { timeout: 50 }));
  assert.ok(e instanceof WsrouteError);
  assert.equal(e.code, "timeout");
  assert.equal(e.retriable, true);
  assert.equal(lateArrived, false, "rejected before the reply came");
  const f = await late;
  assert.equal(f.ref, e.ref, "the late reply is the timed-out request's");
  assert.equal(f.slept, 500);
  // The connection is still usable.
  assert.equal((await c.request("echo", { text: "after" })).text, "after");
});

test("an AbortSignal rejects with its reason; the late reply goes to onFrame", async () => {
  const c = lab();
  await withTimeout(c.ready(), 5000, "not open");
  const late = next<any>((h) => c.onFrame(h), (f) => f?.id === "aborted", 5000, "late reply");
  const ac = new AbortController();
  const p = c.request("sleep", { ms: 200, id: "aborted" }, { signal: ac.signal });
  const reason = new Error("user gave up");
  ac.abort(reason);
  assert.equal(await rejection(p), reason);
  assert.equal((await late).slept, 200);

  const pre = new AbortController();
  pre.abort("already");
  assert.equal(await rejection(c.request("ping", {}, { signal: pre.signal })), "already");
});

test("send() sends without a ref; onFrame gets pushes, ref-less acks and default-handler replies", async () => {
  const c = lab();
  const connected = next<any>((h) => c.onFrame(h), (f) => f?.connected === true, 5000, "connected push");
  assert.throws(
    () => c.send("record", { value: "too early" }),
    (e: unknown) => e instanceof WsrouteError && e.code === "not_open",
  );
  await withTimeout(c.ready(), 5000, "not open");
  assert.equal((await connected).channel, "lab");

  const ack = next<any>((h) => c.onFrame(h), (f) => f?.action === "record", 5000, "ack of send");
  c.send("record", { value: "v1" });
  assert.deepEqual(await ack, { action: "record" }, "the reply to a send has no ref");
  c.send("record", { value: "v2" });
  assert.deepEqual((await c.request("recorded")).values, ["v1", "v2"]);

  const unrouted = next<any>((h) => c.onFrame(h), (f) => f?.unrouted !== undefined, 5000, "default handler reply");
  c.send("no-such-route" as any, { x: 1 });
  assert.deepEqual((await unrouted).unrouted, { action: "no-such-route", x: 1 });

  const notice = next<any>((h) => c.onFrame(h), (f) => f?.notice !== undefined, 5000, "push");
  const reply = await c.request("notify", { text: "hello" });
  assert.equal(reply.action, "notify");
  assert.equal((await notice).notice, "hello");

  c.close();
  assert.throws(() => c.send("ping"), (e: unknown) => e instanceof WsrouteError && e.code === "not_open");
});

test("subscribe, topic events (incl. a parameterised topic), unsubscribe", async () => {
  const sub = lab({
    subscribe: subscribeRoutes,
    onOpen: async (conn) => {
      await conn.request("login", { token: "alice-token" });
    },
  });
  const news: NewsEvent[] = [];
  sub.on("news", (ev, topic) => {
    assert.equal(topic, "news");
    news.push(ev);
  });
  assert.equal(((await sub.subscribe("news")) as { subscribed: string }).subscribed, "news");
  await sub.subscribe("rooms/lobby");

  const pub = lab({ onOpen: async (conn) => void (await conn.request("login", { token: "bob-token" })) });
  const got = next<NewsEvent>((h) => sub.on("news", h), (ev) => ev.text === "first", 5000, "news event");
  const { seq } = await pub.request("announce", { text: "first" });
  assert.deepEqual(await got, { seq, text: "first", by: "bob" });

  const talker = client<Room>(server.url("/rooms/lobby"), { token: () => "bob-token" });
  const chat = next<ChatEvent>((h) => sub.on("rooms/lobby", h), () => true, 5000, "room event");
  await talker.request("say", { text: "hi room" });
  assert.deepEqual(await chat, { room: "lobby", user: "bob", text: "hi room" });

  await sub.unsubscribe("news");
  await pub.request("awaitSubscribers", { topic: "news", count: 0 });
  const r = await pub.request("awaitSubscribers", { topic: "rooms/lobby", count: 2 });
  assert.equal(r.subscribers, 2, "the room's own connection and the lab subscriber");

  const refused = await rejection(sub.subscribe("secret"));
  assert.ok(refused instanceof WsrouteError);
  assert.equal(refused.code, "forbidden");
  assert.ok(news.every((ev) => ev.text === "first"));
});

test("4401 after session expiry: token() is asked again and the client is back at once with the new token", async () => {
  const issuer = lab();
  const issued: string[] = [];
  const room = client<Room>(
    server.url("/rooms/expiry"),
    {
      token: async () => {
        const first = issued.length === 0;
        const { token } = await issuer.request("issueToken", { user: first ? "carol" : "carol2", ttlMs: first ? 400 : 60_000 });
        issued.push(token);
        return token;
      },
      // A backoff this long would miss the bound below: the first 4401 must not wait.
      reconnect: { initialDelay: 5000, maxDelay: 5000, jitter: 0 },
    },
  );
  const states: string[] = [];
  room.onState((s, info) => states.push(info?.code ? `${s}:${info.code}` : s));
  await withTimeout(room.ready(), 5000, "not open");
  const who1 = await room.request("whoami");
  assert.deepEqual([who1.user, who1.token], ["carol", issued[0]]);

  const info = await stateIs(room, "reconnecting", 5000);
  assert.equal(info?.code, 4401);
  await stateIs(room, "open", 2000);
  const who2 = await room.request("whoami");
  assert.deepEqual([who2.user, who2.token, who2.room], ["carol2", issued[1], "expiry"]);
  assert.equal(issued.length, 2, "token() was called before each connection");
  assert.deepEqual(states, ["open", "reconnecting:4401", "open"]);
});

test("1008: no reconnect at all, state closed with the code and reason, one attempt server-side", async () => {
  const counter = lab();
  const roomName = `kick-${process.pid}`;
  const room = client<Room>(server.url(`/rooms/${roomName}`), { token: () => "alice-token" });
  const closed = stateIs(room, "closed", 5000);
  await withTimeout(room.ready(), 5000, "not open");
  const e = await rejection(room.request("kick"));
  assert.ok(e instanceof WsrouteError);
  assert.equal(e.code, "disconnected");
  assert.equal(e.retriable, true);
  assert.deepEqual(await closed, { code: 1008, reason: "kicked" });
  // The client's backoff starts at 20 ms: ten times that without a second attempt.
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(room.state, "closed");
  assert.equal((await counter.request("stats")).opens[`rooms/${roomName}`], 1);
  assert.equal((await rejection(room.ready())) instanceof WsrouteError, true);
  const after = await rejection(room.request("whoami"));
  assert.equal((after as WsrouteError).code, "closed");
});

test("failed upgrades (401, seen as 1006) back off and stop after maxRetries", async () => {
  const counter = lab();
  const roomName = `refused-${process.pid}`;
  const room = client<Room>(server.url(`/rooms/${roomName}`), { reconnect: { initialDelay: 10, maxDelay: 20, maxRetries: 2 } });
  const queued = room.request("whoami", {}, { timeout: 10_000 });
  const info = await stateIs(room, "closed", 5000);
  assert.equal(info?.code, 1006);
  const e = await rejection(queued);
  assert.equal((e as WsrouteError).code, "closed", "a queued request is rejected when the client gives up");
  assert.equal((await counter.request("stats")).opens[`rooms/${roomName}`], 3, "one attempt and two retries");
});

test("close(): pending requests reject with closed, no reconnect", async () => {
  const c = lab();
  await withTimeout(c.ready(), 5000, "not open");
  const p = c.request("sleep", { ms: 5000 });
  const states: string[] = [];
  c.onState((s) => states.push(s));
  c.close();
  const e = await rejection(p);
  assert.ok(e instanceof WsrouteError);
  assert.equal(e.code, "closed");
  assert.equal(e.retriable, false);
  assert.equal(c.state, "closed");
  assert.deepEqual(states, ["closed"]);
});

test("onOpen that fails closes the socket and reconnects; queued requests wait for a good onOpen", async () => {
  const counter = lab();
  let calls = 0;
  const c = lab({
    onOpen: async (conn) => {
      calls++;
      await conn.request("login", { token: calls === 1 ? "wrong" : "alice-token" }); // rejects the first time
    },
  });
  const who = await withTimeout(c.request("whoami"), 5000, "whoami");
  assert.equal(who.user, "alice");
  assert.equal(calls, 2);
  assert.equal(c.state, "open");
  assert.ok((await counter.request("stats")).opens["lab"]! >= 3);
});
