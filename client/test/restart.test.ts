// A server restart in the middle: its own server process, killed and started again on the same port.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { WsrouteError, type Client } from "../dist/index.js";
import { TestServer, cleanupAll, client, next, stateIs, withTimeout } from "./helpers.js";

after(() => cleanupAll());

test("server restart: pending requests reject disconnected, the client reconnects, logs in again and restores its subscriptions", async () => {
  const first = await TestServer.start();
  let logins = 0;
  const c: Client = client(first.url("/lab"), {
    subscribe: { route: "subscribe", unsubscribeRoute: "unsubscribe" },
    onOpen: async (conn) => {
      await conn.request("login", { token: "alice-token" });
      logins++;
    },
  });
  const states: string[] = [];
  c.onState((s) => states.push(s));
  await c.subscribe("news");
  assert.equal(logins, 1);

  const pending = [1, 2, 3].map((i) => c.request("sleep", { ms: 10_000, id: String(i) }, { timeout: 20_000 }));
  const settled = withTimeout(Promise.allSettled(pending), 10_000, "pending requests");
  // The server has read them (its reader goes in order) once a later request is answered.
  await c.request("ping");
  const reconnecting = stateIs(c, "reconnecting", 5000);
  await first.kill("SIGKILL");

  for (const s of await settled) {
    assert.equal(s.status, "rejected");
    const e = (s as PromiseRejectedResult).reason;
    assert.ok(e instanceof WsrouteError, String(e));
    assert.equal(e.code, "disconnected");
    assert.equal(e.retriable, true);
  }
  await reconnecting;

  // While the server is down the client keeps retrying; a request made now waits for the next open.
  const queued = c.request("whoami", {}, { timeout: 15_000 });

  const second = await TestServer.start(`127.0.0.1:${first.port}`);
  await stateIs(c, "open", 10_000);
  assert.equal(logins, 2, "onOpen logged in again");
  assert.equal((await queued).user, "alice", "the queued request went out after the log-in");

  const pub = client(second.url("/lab"), { onOpen: async (conn) => void (await conn.request("login", { token: "bob-token" })) });
  await pub.request("awaitSubscribers", { topic: "news", count: 1 });
  const got = next<any>((h) => c.on("news", h), (ev) => ev.text === "after restart", 5000, "news after restart");
  await pub.request("announce", { text: "after restart" });
  assert.equal((await got).by, "bob");

  assert.equal(states[0], "open");
  assert.ok(states.includes("reconnecting"));
  assert.equal(states.at(-1), "open");
  assert.ok(states.slice(1, -1).every((s) => s === "reconnecting"), states.join(","));
});
