#!/usr/bin/env node
// wsroute-gen <asyncapi.json | http(s)://…/asyncapi.json> [-o api.gen.ts]
//
// Writes the typed bindings of a wsroute server's AsyncAPI 3.0 document
// (see generate.mjs) to the -o file, or to stdout.
//
// Exit codes: 0 done; 1 the document could not be read or is not a wsroute
// AsyncAPI 3 document; 2 usage.
import { realpathSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { pathToFileURL } from "node:url";
import { generate, GenerateError } from "./generate.mjs";

const USAGE = `usage: wsroute-gen <asyncapi.json | http(s)://host/asyncapi.json> [-o api.gen.ts]

Generates TypeScript bindings for @wsroute/client from a wsroute server's
AsyncAPI 3.0 document (wsroute.AsyncAPI / AsyncAPIHandler). Without -o the
code goes to stdout.`;

/** A failure with its exit code. */
class Exit extends Error {
  /**
   * @param {number} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * @param {string[]} args
 * @returns {{ source: string, out?: string }}
 */
export function parseArgs(args) {
  /** @type {string | undefined} */
  let source;
  /** @type {string | undefined} */
  let out;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-h" || a === "--help") throw new Exit(0, USAGE);
    if (a === "-o" || a === "--out") {
      if (i + 1 >= args.length || args[i + 1] === "") throw new Exit(2, `wsroute-gen: ${a} needs a file name\n${USAGE}`);
      if (out !== undefined) throw new Exit(2, `wsroute-gen: -o given twice\n${USAGE}`);
      out = args[++i];
    } else if (a.startsWith("--out=")) {
      out = a.slice("--out=".length);
    } else if (a.startsWith("-") && a !== "-") {
      throw new Exit(2, `wsroute-gen: unknown flag ${a}\n${USAGE}`);
    } else if (source === undefined) {
      source = a;
    } else {
      throw new Exit(2, `wsroute-gen: one document at a time (got ${JSON.stringify(source)} and ${JSON.stringify(a)})\n${USAGE}`);
    }
  }
  if (source === undefined) throw new Exit(2, `wsroute-gen: no document given\n${USAGE}`);
  return { source, out };
}

/**
 * Reads the document's text from a file, a URL, or stdin ("-").
 * @param {string} source
 * @returns {Promise<string>}
 */
async function readSource(source) {
  if (/^https?:\/\//i.test(source)) {
    /** @type {Response} */
    let res;
    try {
      res = await fetch(source, { headers: { Accept: "application/json" }, signal: AbortSignal.timeout(30_000) });
    } catch (e) {
      const err = /** @type {Error & { cause?: Error }} */ (e);
      throw new Exit(1, `wsroute-gen: ${source}: ${err.cause?.message ?? err.message}`);
    }
    if (!res.ok) throw new Exit(1, `wsroute-gen: ${source}: HTTP ${res.status} ${res.statusText}`);
    return await res.text();
  }
  if (source === "-") {
    const chunks = [];
    for await (const c of process.stdin) chunks.push(c);
    return Buffer.concat(chunks).toString("utf8");
  }
  try {
    return await readFile(source, "utf8");
  } catch (e) {
    const err = /** @type {NodeJS.ErrnoException} */ (e);
    if (err.code === "ENOENT") throw new Exit(1, `wsroute-gen: ${source}: no such file`);
    if (err.code === "EISDIR") throw new Exit(1, `wsroute-gen: ${source}: is a directory`);
    throw new Exit(1, `wsroute-gen: ${source}: ${err.message}`);
  }
}

/**
 * Runs the command; returns the exit code. Output goes through the given
 * streams so tests can run it in-process.
 * @param {string[]} args
 * @param {{ stdout: (s: string) => void, stderr: (s: string) => void }} io
 * @returns {Promise<number>}
 */
export async function main(args, io) {
  try {
    const { source, out } = parseArgs(args);
    const text = await readSource(source);
    /** @type {unknown} */
    let doc;
    try {
      doc = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    } catch (e) {
      const hint = /^\s*asyncapi\s*:/m.test(text) ? " (YAML is not read: wsroute writes JSON)" : "";
      throw new Exit(1, `wsroute-gen: ${source}: not JSON: ${/** @type {Error} */ (e).message}${hint}`);
    }
    let ts;
    try {
      ts = await generate(doc);
    } catch (e) {
      if (e instanceof GenerateError) throw new Exit(1, `wsroute-gen: ${source}: ${e.message}`);
      throw e;
    }
    if (out === undefined || out === "-") {
      io.stdout(ts);
    } else {
      try {
        await mkdir(dirname(out), { recursive: true });
        await writeFile(out, ts);
      } catch (e) {
        throw new Exit(1, `wsroute-gen: ${out}: ${/** @type {Error} */ (e).message}`);
      }
    }
    return 0;
  } catch (e) {
    if (e instanceof Exit) {
      (e.code === 0 ? io.stdout : io.stderr)(e.message + "\n");
      return e.code;
    }
    io.stderr(`wsroute-gen: ${/** @type {Error} */ (e)?.stack ?? e}\n`);
    return 1;
  }
}

/** Whether this file is the program node runs (also through npm's bin symlink). */
function isMain() {
  if (!process.argv[1]) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  const code = await main(process.argv.slice(2), {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
  });
  process.exitCode = code;
}
