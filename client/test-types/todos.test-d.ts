// Type-level test of the generated bindings (compiled with `tsc --noEmit -p
// test-types`, never run): what must compile compiles, and every
// `@ts-expect-error` line must fail to compile, or tsc reports it unused.
import { connect, type ChannelSpec } from "../src/index.js";
import { channels, type TodoEvent, type TodosChannel, type TodosCreateReply } from "../../examples/todos/web/api.gen.js";

/** Fails to compile unless A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | void {}

// The generated interfaces are channel specs.
assertType<TodosChannel extends ChannelSpec ? true : false>();

const client = connect<TodosChannel>(new URL(channels.todos.address, "ws://localhost:8080"), {
  routeKey: channels.todos.routeKey,
  refKey: channels.todos.refKey,
  subscribe: { route: "subscribe", unsubscribeRoute: "unsubscribe" },
});

async function requests(): Promise<void> {
  const created = await client.request("create", { title: "milk" });
  const title: string = created.todo.title;
  assertType<Equal<typeof created, TodosCreateReply>>();
  assertType<Equal<typeof created.todo.title, string>>();
  assertType<Equal<typeof created.action, "create">>();
  void title;

  // Inputs with nothing required may be left out.
  const list = await client.request("list");
  const todos = list.todos ?? [];
  for (const t of todos) {
    const done: boolean = t.done;
    void done;
  }
  await client.request("complete", { id: "1" });
  // A route without StrictFields ignores unknown fields: the type lets them through.
  await client.request("complete", { id: "1", note: "fine" });
  client.send("create", { title: "eggs" });

  // @ts-expect-error an unknown action
  await client.request("destroy", { id: "1" });
  // @ts-expect-error a wrong input field type
  await client.request("create", { title: 42 });
  // @ts-expect-error a missing required input field
  await client.request("create", {});
  // @ts-expect-error the input of a route with a required field cannot be left out
  await client.request("create");
  // @ts-expect-error an extra field where the schema says additionalProperties: false (StrictFields)
  await client.request("create", { title: "milk", priority: 1 });
  // @ts-expect-error reading a reply field that does not exist
  void created.nonexistent;
  // @ts-expect-error a nested field that does not exist
  void created.todo.due;
  // @ts-expect-error the reply of list is not create's
  void list.todo;
  // @ts-expect-error todos may be null (a nil slice)
  void list.todos.length;
}

function events(): void {
  const off = client.on("todos", (ev, topic) => {
    assertType<Equal<typeof ev, TodoEvent>>();
    const who: string = ev.todo.owner;
    const t: string = topic;
    void who, t;
  });
  off();
  // @ts-expect-error an event field that does not exist
  client.on("todos", (ev) => ev.nonexistent);
  // @ts-expect-error a topic the channel does not declare
  client.on("nottopic", () => {});
}

void requests, events;
