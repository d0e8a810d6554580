// Test helpers: the Go test server as a child process, and small awaitable utilities.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { connect, type ChannelSpec, type Client, type ClientOptions, type State } from "../dist/index.js";

const here = dirname(fileURLToPath(import.meta.url)); // client/dist-test
const repoRoot = resolve(here, "..", "..");

let built: string | undefined;

/** Everything the helpers started, so that a failing test cannot leave a process or a socket behind. */
const servers = new Set<TestServer>();
const clients = new Set<Client<any>>();
process.on("exit", () => {
  for (const s of servers) s.proc.kill("SIGKILL");
});

/** Closes every client made with client(). */
export function closeClients(): void {
  for (const c of clients) c.close();
  clients.clear();
}

/** Closes every client and kills every server the helpers started. */
export async function cleanupAll(): Promise<void> {
  closeClients();
  await Promise.all([...servers].map((s) => s.kill()));
}

/** The test server binary: $WSROUTE_TESTSERVER, or built once per test file from the repository. */
export function serverBinary(): string {
  const env = process.env.WSROUTE_TESTSERVER;
  if (env) return env;
  if (built) return built;
  const dir = mkdtempSync(join(tmpdir(), "wsroute-testserver-"));
  const bin = join(dir, "testserver");
  execFileSync("go", ["build", "-o", bin, "./client/testserver"], { cwd: repoRoot, stdio: ["ignore", "inherit", "inherit"], timeout: 180_000 });
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  built = bin;
  return bin;
}

/** One test server process. */
export class TestServer {
  private constructor(
    readonly proc: ChildProcess,
    readonly addr: string,
    private readonly exited: Promise<number | null>,
  ) {}

  get http(): string {
    return `http://${this.addr}`;
  }
  get port(): number {
    return Number(this.addr.slice(this.addr.lastIndexOf(":") + 1));
  }
  url(path: string): string {
    return `ws://${this.addr}${path}`;
  }

  /** Starts the server on addr (default: a free loopback port) and waits for its "listening" line. */
  static async start(addr = "127.0.0.1:0", args: string[] = []): Promise<TestServer> {
    const proc = spawn(serverBinary(), ["-addr", addr, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise<number | null>((res) => proc.once("exit", (code) => res(code)));
    const line = await new Promise<string>((res, rej) => {
      let buf = "";
      const timer = setTimeout(() => fail(new Error("test server: no 'listening' line within 10 s")), 10_000);
      const fail = (e: Error) => {
        clearTimeout(timer);
        proc.kill("SIGKILL");
        rej(e);
      };
      proc.stdout!.setEncoding("utf8");
      proc.stdout!.on("data", (chunk: string) => {
        buf += chunk;
        const nl = buf.indexOf("\n");
        if (nl >= 0) {
          clearTimeout(timer);
          res(buf.slice(0, nl));
        }
      });
      proc.once("exit", (code) => fail(new Error(`test server exited (${code}) before listening`)));
      proc.once("error", fail);
    });
    const m = /^listening http:\/\/(\S+)$/.exec(line);
    if (!m) {
      proc.kill("SIGKILL");
      throw new Error(`test server said ${JSON.stringify(line)}`);
    }
    // The process and its pipe no longer hold this process open: an exit handler kills it.
    proc.stdout!.removeAllListeners("data");
    proc.stdout!.resume();
    (proc.stdout as unknown as { unref?: () => void }).unref?.();
    proc.unref();
    const s = new TestServer(proc, m[1]!, exited);
    servers.add(s);
    void exited.then(() => servers.delete(s));
    return s;
  }

  /** Kills the process (SIGKILL by default: a crash) and waits until it is gone. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<number | null> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    return withTimeout(this.exited, 10_000, "test server did not exit");
  }
}

/** Rejects after ms with message unless p settles first. */
export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`${message} (within ${ms} ms)`)), ms);
    }),
  ]);
}

/** Resolves when the client's state becomes `want` (or is already). */
export function stateIs<S extends ChannelSpec>(c: Client<S>, want: State, ms = 5000): Promise<{ code?: number; reason?: string } | undefined> {
  if (c.state === want) return Promise.resolve(undefined);
  let off = () => {};
  const p = new Promise<{ code?: number; reason?: string } | undefined>((res) => {
    off = c.onState((s, info) => {
      if (s === want) res(info);
    });
  });
  return withTimeout(p, ms, `state ${want} (now ${c.state})`).finally(() => off());
}

/** Resolves with the first value that handler registration reports and pred accepts. */
export function next<T>(register: (h: (v: T) => void) => () => void, pred: (v: T) => boolean = () => true, ms = 5000, what = "event"): Promise<T> {
  let off = () => {};
  const p = new Promise<T>((res) => {
    off = register((v) => {
      if (pred(v)) res(v);
    });
  });
  return withTimeout(p, ms, `no ${what}`).finally(() => off());
}

/** connect() with ws and a fast backoff; closeClients() closes it. */
export function client<S extends ChannelSpec = any>(url: string, opts: ClientOptions<S> = {}): Client<S> {
  const c = connect<S>(url, {
    WebSocket,
    reconnect: { initialDelay: 20, maxDelay: 200, stableAfter: 5000 },
    ...opts,
  });
  clients.add(c);
  return c;
}

