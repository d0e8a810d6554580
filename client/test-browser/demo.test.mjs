// The demo's page in headless Chromium, on the generated client: two tabs
// share todos, the page survives a server restart, and nothing is logged as
// an error. Run from Go (examples/todos, TestBrowserDemo), which builds the
// demo binary and passes its path in WSROUTE_TODOS.
//
// WSROUTE_TODOS_MODE picks the demo's -mode: "server" (the default) or
// "apigw-local", the same app served serverless through the API Gateway
// emulator with the channels' state in Redis (WSROUTE_REDIS_ADDR, default
// 127.0.0.1:6379, under the key prefix WSROUTE_TODOS_REDIS_PREFIX). There
// the restart is a crash (SIGKILL): the old connections' records stay in
// Redis, subscribed, and the new process must cope with them (the first
// publish that finds them gone drops them).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { once } from "node:events";
import { chromium } from "playwright-core";

const bin = process.env.WSROUTE_TODOS;
const mode = process.env.WSROUTE_TODOS_MODE || "server";
const modeArgs = mode === "apigw-local"
  ? ["-mode", "apigw-local", "-store", "redis",
    "-redis-addr", process.env.WSROUTE_REDIS_ADDR || "127.0.0.1:6379",
    "-redis-prefix", process.env.WSROUTE_TODOS_REDIS_PREFIX || "todos-sl-browser:"]
  : ["-mode", mode];
// restartSignal ends the first server: a graceful stop for the long-lived
// server, a crash for the serverless one (its records outlive it).
const restartSignal = mode === "apigw-local" ? "SIGKILL" : "SIGTERM";
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

async function freePort() {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address();
  srv.close();
  await once(srv, "close");
  return port;
}

// startServer runs the demo on addr and resolves once it listens.
async function startServer(addr) {
  const proc = spawn(bin, ["-addr", addr, ...modeArgs], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  proc.log = () => log;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the demo did not start:\n" + log)), 15000);
    proc.stderr.on("data", (b) => {
      log += b;
      if (log.includes("todos listening")) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited (${code}):\n${log}`));
    });
  });
  return proc;
}

// stopServer ends the demo with signal and resolves to its exit code (null
// when the signal killed it).
async function stopServer(proc, signal = "SIGTERM") {
  if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
  const exited = once(proc, "exit");
  proc.kill(signal);
  const [code] = await exited;
  return code;
}

// openTab opens the page logged in with token and records what it logs.
async function openTab(browser, base, token) {
  const page = await browser.newPage();
  const tab = { page, errors: [], wsFailures: [] };
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    // Chromium itself logs a refused WebSocket handshake (the server is
    // down during the restart) as an error; the page logs nothing.
    if (/^WebSocket connection to 'ws:\/\/[^']+\/todos' failed/.test(msg.text())) tab.wsFailures.push(msg.text());
    else tab.errors.push(msg.text());
  });
  page.on("pageerror", (err) => tab.errors.push("uncaught: " + err.message));
  await page.goto(`${base}/?token=${token}`);
  return tab;
}

const status = (tab) => tab.page.locator("#status");
const titles = (tab) => tab.page.locator("#todos li .title");

test(`two tabs share todos and survive a server restart (-mode ${mode})`, { skip: !bin && "WSROUTE_TODOS not set" }, async (t) => {
  const addr = `127.0.0.1:${await freePort()}`;
  const base = `http://${addr}`;
  let server = await startServer(addr);
  const browser = await chromium.launch({
    executablePath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  t.after(async () => {
    await browser.close();
    await stopServer(server);
  });
  const expect = async (fn, what) => {
    const deadline = Date.now() + 15000;
    for (;;) {
      if (await fn()) return;
      if (Date.now() > deadline) assert.fail("timed out waiting for " + what);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const hasText = async (loc, text) => (await loc.allTextContents()).includes(text);

  const alice = await openTab(browser, base, "alice-token");
  const bob = await openTab(browser, base, "bob-token");
  await expect(async () => (await status(alice).textContent()) === "connected · logged in as alice", "alice logged in");
  await expect(async () => (await status(bob).textContent()) === "connected · logged in as bob", "bob logged in");

  // Each tab's todo appears in the other.
  await alice.page.fill("#title", "milk");
  await alice.page.press("#title", "Enter");
  await expect(() => hasText(titles(bob), "milk"), "bob sees milk");
  await bob.page.fill("#title", "eggs");
  await bob.page.press("#title", "Enter");
  await expect(() => hasText(titles(alice), "eggs"), "alice sees eggs");

  // Completing is only for the owner; bob sees alice's todo done.
  await alice.page.locator("#todos li", { hasText: "milk" }).locator("input").check();
  await expect(async () => (await bob.page.locator("#todos li.done .title").allTextContents()).includes("milk"), "bob sees milk done");
  assert.equal(await bob.page.locator("#todos li", { hasText: "milk" }).locator("input").isDisabled(), true);

  // A wrong input is a typed error shown on the page, not a dead socket.
  await alice.page.evaluate(() => { // past the input's maxlength of 200
    const i = document.getElementById("title");
    i.removeAttribute("maxlength");
    i.value = "x".repeat(201);
    document.getElementById("add").requestSubmit();
  });
  await expect(async () => /create: .*\(invalid\)/.test(await alice.page.locator("#error").textContent()), "the invalid error");

  // Restart the server: both tabs reconnect, log in again, resubscribe, and
  // events flow again (the new server starts with an empty list).
  await stopServer(server, restartSignal);
  await expect(async () => (await status(alice).textContent()).startsWith("reconnecting"), "alice reconnecting");
  server = await startServer(addr);
  await expect(async () => (await status(alice).textContent()) === "connected · logged in as alice", "alice back");
  await expect(async () => (await status(bob).textContent()) === "connected · logged in as bob", "bob back");
  await alice.page.fill("#title", "after the restart");
  await alice.page.press("#title", "Enter");
  await expect(() => hasText(titles(bob), "after the restart"), "bob sees the todo made after the restart");

  // Completing still works, and its event reaches the other tab.
  await alice.page.locator("#todos li", { hasText: "after the restart" }).locator("input").check();
  await expect(async () => (await bob.page.locator("#todos li.done .title").allTextContents()).includes("after the restart"), "bob sees it done");

  assert.deepEqual(alice.errors, [], "alice's console errors");
  assert.deepEqual(bob.errors, [], "bob's console errors");

  // A graceful stop with the tabs still open: the server closes their
  // connections (1001) and exits cleanly.
  const code = await stopServer(server);
  assert.equal(code, 0, "the demo's exit code after SIGTERM:\n" + server.log());
  t.diagnostic(`handshakes refused while the server was down: alice ${alice.wsFailures.length}, bob ${bob.wsFailures.length}`);
});
