// The demo's page: a shared todo list on the typed wsroute client.
//
// Bundled by esbuild into ../static/app.js (npm run build:demo in client/),
// which the Go binary embeds, so `go run ./examples/todos` needs nothing
// but Go. The types come from the server's AsyncAPI document
// (../testdata/asyncapi.json → api.gen.ts, npm run gen:demo).
import { connect, WsrouteError } from "../../../client/src/index.js";
import type { TodosChannel, Todo } from "./api.gen.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const state = {
  user: null as string | null,
  token: null as string | null, // kept to log in again after a reconnect
  todos: [] as Todo[],
};

const client = connect<TodosChannel>(
  (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/todos",
  {
    // After every (re)connect, before anything queued goes out and before the
    // client restores the "todos" subscription: log in again. The list is
    // reloaded when the state becomes "open", after the subscription is
    // restored, so no event falls between the two and a server restart costs
    // the user nothing.
    onOpen: async (conn) => {
      if (!state.token) return;
      try {
        const me = await conn.request("auth", { token: state.token });
        state.user = me.userId;
      } catch (err) {
        if (err instanceof WsrouteError && !err.retriable) {
          state.token = null; // the token is no longer accepted
          state.user = null;
          showError(err);
        } else {
          throw err; // reconnect and try again
        }
      }
      render();
    },
    subscribe: { route: "subscribe", unsubscribeRoute: "unsubscribe" },
  },
);

// during collects the events that arrive while a list request is out.
let during: Todo[] | undefined;

client.onState((s) => {
  // Logged in at "open": this is a reconnect (a first log-in loads the list itself).
  if (s === "open" && state.user) void reload().catch(showError);
  render();
});
client.on("todos", (ev) => {
  during?.push(ev.todo);
  upsert(ev.todo);
});

// reload replaces the list with the server's, after the subscription: an
// event that the server sent before the list's reply is applied again on top
// of it, so a todo created meanwhile is never lost (completing is one-way, so
// "done" wins over an older copy).
async function reload() {
  const seen: Todo[] = [];
  during = seen;
  try {
    const todos = (await client.request("list")).todos ?? [];
    for (const t of seen) {
      const i = todos.findIndex((x) => x.id === t.id);
      if (i < 0) todos.push(t);
      else if (t.done) todos[i] = { ...todos[i]!, done: true };
    }
    state.todos = todos;
  } finally {
    if (during === seen) during = undefined;
  }
  render();
}
client.onFrame(() => {}); // pushes such as {"connected":true}: nothing to do

function showError(err: unknown) {
  if (!err) {
    $("error").textContent = "";
  } else if (err instanceof WsrouteError) {
    $("error").textContent = (err.action ? err.action + ": " : "") + err.message + " (" + err.code + ")";
  } else {
    $("error").textContent = String(err instanceof Error ? err.message : err);
  }
}

// upsert replaces the todo with the same id, or appends it (creation order).
function upsert(todo: Todo) {
  const i = state.todos.findIndex((t) => t.id === todo.id);
  if (i >= 0) state.todos[i] = todo;
  else state.todos.push(todo);
  render();
}

const stateText: Record<string, string> = {
  connecting: "connecting…",
  open: "connected",
  reconnecting: "reconnecting…",
  closed: "disconnected",
};

function render() {
  $("status").textContent =
    stateText[client.state] + (state.user ? " · logged in as " + state.user : " · not logged in");
  $<HTMLButtonElement>("logout").disabled = !state.user;
  $("add").classList.toggle("hidden", !state.user);
  const ul = $("todos");
  ul.replaceChildren();
  if (!state.user) return;
  for (const t of state.todos) {
    const li = document.createElement("li");
    li.className = t.done ? "done" : "";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = t.done;
    box.disabled = t.done || t.owner !== state.user;
    box.title = t.owner === state.user ? "complete" : "only " + t.owner + " can complete this";
    box.addEventListener("change", () => {
      client.request("complete", { id: t.id }).then(
        (r) => { showError(null); upsert(r.todo); },
        (err) => { showError(err); render(); }, // undo the optimistic checkbox
      );
    });
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = t.title;
    const owner = document.createElement("span");
    owner.className = "owner";
    owner.textContent = t.owner;
    li.append(box, title, owner);
    ul.append(li);
  }
}

async function login(token: string) {
  try {
    const me = await client.request("auth", { token });
    state.token = token;
    state.user = me.userId;
    showError(null);
    await client.subscribe("todos");
    await reload();
  } catch (err) {
    showError(err);
  }
  render();
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = $<HTMLInputElement>("token").value.trim();
  if (!token) {
    showError("enter a token, e.g. alice-token");
    return;
  }
  void login(token);
});

$("logout").addEventListener("click", async () => {
  try {
    await client.unsubscribe("todos"); // forget it, so a reconnect does not restore it
    await client.request("logout");
  } catch (err) {
    showError(err);
  }
  state.user = null;
  state.token = null;
  state.todos = [];
  render();
});

$("add").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>("title");
  const title = input.value.trim();
  if (!title) return;
  input.value = "";
  try {
    upsert((await client.request("create", { title })).todo);
    showError(null);
  } catch (err) {
    showError(err);
  }
});

// ?token=alice-token in the page's URL logs in as soon as the channel opens.
const fromURL = new URLSearchParams(location.search).get("token");
if (fromURL) {
  $<HTMLInputElement>("token").value = fromURL;
  void login(fromURL);
}
render();
