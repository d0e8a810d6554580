// node --test gen/ — wsroute-gen's command line: exit codes 0/1/2, clear
// messages, files and http(s) URLs, nothing written on failure.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generate } from "./generate.mjs";

const CLI = fileURLToPath(new URL("./cli.mjs", import.meta.url));
const GOLDEN = fileURLToPath(new URL("../../examples/todos/testdata/asyncapi.json", import.meta.url));

/** Runs the CLI in a child process. */
function run(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: "utf8" }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

const dir = await mkdtemp(join(tmpdir(), "wsroute-gen-"));
test.after(() => rm(dir, { recursive: true, force: true }));

const file = async (name, text) => {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
};

test("writes the bindings to stdout, or to -o (creating its directory)", async () => {
  const want = await generate(JSON.parse(await readFile(GOLDEN, "utf8")));
  const r = await run([GOLDEN]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, want);
  const out = join(dir, "sub", "api.gen.ts");
  const w = await run([GOLDEN, "-o", out]);
  assert.equal(w.code, 0, w.stderr);
  assert.equal(w.stdout, "");
  assert.equal(await readFile(out, "utf8"), want);
});

test("usage errors exit 2", async () => {
  for (const args of [[], ["-x", GOLDEN], [GOLDEN, "-o"], [GOLDEN, GOLDEN]]) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args}: ${r.stderr}`);
    assert.match(r.stderr, /^wsroute-gen: .*\nusage: wsroute-gen /, String(args));
    assert.equal(r.stdout, "");
  }
  const h = await run(["--help"]);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /^usage: wsroute-gen /);
});

test("documents it cannot use exit 1 with a clear message, and write nothing", async () => {
  const cases = [
    [join(dir, "missing.json"), /missing\.json: no such file/],
    [dir, /is a directory/],
    [await file("text.json", "not json"), /text\.json: not JSON: /],
    [await file("yaml.yml", "asyncapi: 3.0.0\ninfo: {}\n"), /not JSON: .*\(YAML is not read: wsroute writes JSON\)/],
    [await file("openapi.json", '{"openapi":"3.1.0"}'), /not an AsyncAPI document: no "asyncapi" version field/],
    [await file("v2.json", '{"asyncapi":"2.6.0","channels":{}}'), /not an AsyncAPI 3 document: "asyncapi" is "2\.6\.0"/],
    [
      await file("plain.json", '{"asyncapi":"3.0.0","info":{"title":"x","version":"1"},"channels":{"a":{"address":"/a"}}}'),
      /not a wsroute document: channel "a" has no x-wsroute/,
    ],
  ];
  for (const [path, want] of cases) {
    const out = join(dir, "never.ts");
    const r = await run([path, "-o", out]);
    assert.equal(r.code, 1, `${path}: ${r.stderr}`);
    assert.match(r.stderr, want);
    assert.equal(r.stderr.split("\n").length, 2, "one line, no stack trace");
    await assert.rejects(stat(out), { code: "ENOENT" });
  }
});

test("reads http URLs: a running server's /asyncapi.json", async () => {
  const body = await readFile(GOLDEN, "utf8");
  const server = createServer((req, res) => {
    if (req.url === "/asyncapi.json") {
      res.setHeader("Content-Type", "application/json");
      res.end(body);
    } else {
      res.statusCode = 404;
      res.end("no");
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const ok = await run([`${base}/asyncapi.json`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, await generate(JSON.parse(body)), "the header does not depend on where the document came from");
    const missing = await run([`${base}/nope.json`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.json: HTTP 404/);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  const refused = await run([base.replace(/:\d+$/, ":1") + "/asyncapi.json"]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^wsroute-gen: http:\/\/127\.0\.0\.1:1\/asyncapi\.json: /);
});
