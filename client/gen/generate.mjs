// generate.mjs — turns the AsyncAPI 3.0 document of a wsroute server
// (wsroute.AsyncAPI) into typed TypeScript bindings for @wsroute/client.
//
// Plain ESM with JSDoc types: it runs on node ≥ 20 without a build step.
// json-schema-to-typescript (an optional peer dependency of the package) is
// loaded only when generate() runs, so the runtime client never needs it.
//
// What the document promises (see asyncapi.go in the Go module):
//   - one channel per wsroute channel, with x-wsroute {routeKey, refKey};
//   - per route a "receive" operation, x-wsroute.route = the route name,
//     messages[0] the request (input + route key const + ref), reply.messages
//     = [the reply, if any, ..., the channel's error message (always last)];
//   - the default and binary handlers: x-wsroute.default / x-wsroute.binary;
//   - per topic a "send" operation, x-wsroute {topic, params}, whose message
//     payload is {topic, data};
//   - shared schemas in components.schemas, referenced as
//     #/components/schemas/<key>.

/**
 * @typedef {object} GenerateOptions
 * @property {string} [source] Where the document came from (a file name or
 *   URL), named in the header comment. Left out by default so that the output
 *   depends on the document alone.
 */

/** An error in the document: the CLI reports its message and exits 1. */
export class GenerateError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "GenerateError";
  }
}

/** @typedef {Record<string, any>} Obj */

/**
 * @param {unknown} v
 * @returns {v is Obj}
 */
const isObj = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * PascalCase of a key: "todoEvent" → "TodoEvent", "wsroute.Ref" → "WsrouteRef",
 * "rooms/{room}" → "RoomsRoom". Only ASCII letters and digits survive.
 * @param {string} s
 */
export function pascal(s) {
  const name = s
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join("");
  if (name === "") return "T";
  return /^[0-9]/.test(name) ? "T" + name : name;
}

/**
 * One token of a JSON pointer in a URI fragment: %-decoded, then ~1 → "/", ~0 → "~".
 * @param {string} raw
 * @param {string} ref the whole reference, for errors
 */
function unescapeToken(raw, ref) {
  let s;
  try {
    s = decodeURIComponent(raw);
  } catch {
    throw new GenerateError(`$ref ${JSON.stringify(ref)}: bad %-escape`);
  }
  return s.replaceAll("~1", "/").replaceAll("~0", "~");
}

/**
 * Resolves a local JSON pointer ("#/a/b~1c") in doc.
 * @param {Obj} doc
 * @param {string} ref
 * @returns {unknown}
 */
function resolvePointer(doc, ref) {
  if (!ref.startsWith("#")) throw new GenerateError(`$ref ${JSON.stringify(ref)}: only references into the document itself are supported`);
  /** @type {unknown} */
  let v = doc;
  const path = ref.slice(1);
  if (path === "") return v;
  if (!path.startsWith("/")) throw new GenerateError(`$ref ${JSON.stringify(ref)}: not a JSON pointer`);
  for (const raw of path.slice(1).split("/")) {
    const tok = unescapeToken(raw, ref);
    if (!isObj(v) && !Array.isArray(v)) throw new GenerateError(`$ref ${JSON.stringify(ref)} does not resolve`);
    v = /** @type {any} */ (v)[tok];
    if (v === undefined) throw new GenerateError(`$ref ${JSON.stringify(ref)} does not resolve`);
  }
  return v;
}

/**
 * Follows $ref (AsyncAPI objects: messages, channels) until an object without one.
 * @param {Obj} doc
 * @param {unknown} v
 * @param {string} what for errors
 * @returns {Obj}
 */
function deref(doc, v, what) {
  for (let i = 0; i < 32; i++) {
    if (!isObj(v)) throw new GenerateError(`${what}: not an object`);
    if (typeof v.$ref !== "string") return v;
    v = resolvePointer(doc, v.$ref);
  }
  throw new GenerateError(`${what}: $ref cycle`);
}

/** The prefix of shared schemas' references. */
const COMPONENTS = "#/components/schemas/";

/** The keywords that say something about a value's type. */
const SHAPE_KEYWORDS = new Set([
  "type", "$ref", "properties", "patternProperties", "additionalProperties", "unevaluatedProperties",
  "items", "prefixItems", "additionalItems", "contains", "minItems", "maxItems", "enum", "const",
  "allOf", "anyOf", "oneOf", "required", "minProperties", "maxProperties", "dependentSchemas",
  "tsType",
]);

/** json-schema-to-typescript keywords that would let a document inject TypeScript. */
const UNSAFE_KEYWORDS = new Set(["tsType", "tsEnumNames"]);

/**
 * A copy of schema fit for json-schema-to-typescript: references to shared
 * schemas point into "definitions" under their TypeScript names; titles and
 * $id go (names come from the generator alone, so they are stable); keywords
 * that would inject TypeScript go; a reference anywhere else is an error.
 * @param {unknown} schema
 * @param {Map<string, string>} componentNames components.schemas key → TS name
 * @param {string} where for errors
 * @returns {any}
 */
function prepare(schema, componentNames, where) {
  if (Array.isArray(schema)) return schema.map((s) => prepare(s, componentNames, where));
  if (!isObj(schema)) return schema;
  /** @type {Obj} */
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === "$ref") {
      out.$ref = refTarget(String(v), componentNames, where);
    } else if (k === "title" || k === "$id" || k === "$schema" || k === "$comment" || k === "examples" || UNSAFE_KEYWORDS.has(k)) {
      // names and TypeScript come from the generator only
    } else if (k === "properties" || k === "patternProperties" || k === "definitions" || k === "$defs" || k === "dependentSchemas") {
      // maps of schemas: keys are data, not keywords
      /** @type {Obj} */
      const m = {};
      for (const [name, s] of Object.entries(isObj(v) ? v : {})) {
        // true and false are schemas too: any value, no value.
        m[name] = s === true ? { tsType: "unknown" } : s === false ? { tsType: "never" } : prepare(s, componentNames, where);
      }
      out[k] = m;
    } else if (k === "const" || k === "enum" || k === "default" || k === "required") {
      out[k] = v; // values, not schemas
    } else {
      out[k] = prepare(v, componentNames, where);
    }
  }
  // A schema that constrains nothing is any value; json-schema-to-typescript
  // would make {"description": …} an object.
  if (!Object.keys(out).some((k) => SHAPE_KEYWORDS.has(k))) out.tsType = "unknown";
  return out;
}

/**
 * @param {string} ref
 * @param {Map<string, string>} componentNames
 * @param {string} where
 */
function refTarget(ref, componentNames, where) {
  if (!ref.startsWith(COMPONENTS)) {
    throw new GenerateError(`${where}: $ref ${JSON.stringify(ref)}: a schema may refer only to ${COMPONENTS}…`);
  }
  const rest = ref.slice(COMPONENTS.length);
  const slash = rest.indexOf("/");
  const key = unescapeToken(slash < 0 ? rest : rest.slice(0, slash), ref);
  const name = componentNames.get(key);
  if (name === undefined) throw new GenerateError(`${where}: $ref ${JSON.stringify(ref)}: no such schema in components.schemas`);
  return "#/definitions/" + name + (slash < 0 ? "" : rest.slice(slash));
}

/**
 * The component keys a (prepared) schema refers to, in order of appearance.
 * @param {unknown} schema
 * @param {(name: string) => void} visit gets the TS name of each reference
 */
function eachRef(schema, visit) {
  if (Array.isArray(schema)) {
    for (const s of schema) eachRef(s, visit);
  } else if (isObj(schema)) {
    for (const [k, v] of Object.entries(schema)) {
      if (k === "$ref" && typeof v === "string" && v.startsWith("#/definitions/")) {
        visit(v.slice("#/definitions/".length).split("/")[0]);
      } else if (k !== "const" && k !== "enum" && k !== "default") {
        eachRef(v, visit);
      }
    }
  }
}

/** Allocates unique TypeScript names in a fixed order. */
class Names {
  constructor() {
    /** @type {Set<string>} */
    this.used = new Set(["channels"]);
  }
  /** @param {string} want */
  take(want) {
    let name = want;
    for (let i = 2; this.used.has(name); i++) name = want + i;
    this.used.add(name);
    return name;
  }
}

/**
 * @param {string} s
 * @returns {string} s as a property key: bare when it is an identifier, else quoted
 */
function propKey(s) {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s) ? s : JSON.stringify(s);
}

/** @param {string} s text for a block comment */
function commentText(s) {
  return s.replaceAll("*/", "* /").replace(/\s+$/, "");
}

/**
 * A JSDoc block, indented.
 * @param {string[]} lines
 * @param {string} indent
 */
function jsdoc(lines, indent) {
  while (lines.length && !lines[0]) lines = lines.slice(1);
  const text = lines.map(commentText).join("\n").split("\n");
  while (text.length && text[text.length - 1] === "") text.pop();
  if (text.length === 0) return "";
  if (text.length === 1) return `${indent}/** ${text[0]} */\n`;
  return `${indent}/**\n${text.map((l) => `${indent} *${l ? " " + l : ""}`).join("\n")}\n${indent} */\n`;
}

/**
 * The TypeScript key of a topic pattern: a string literal, or a template
 * literal type when it has {param} segments ("rooms/{room}" → `rooms/${string}`).
 * @param {string} pattern
 */
function topicKey(pattern) {
  if (!/\{[^/{}]+\}/.test(pattern)) return { key: JSON.stringify(pattern), template: false };
  const parts = pattern.split("/").map((seg) =>
    /^\{[^/{}]+\}$/.test(seg) ? "${string}" : seg.replace(/[\\`]/g, (c) => "\\" + c).replaceAll("${", "\\${"),
  );
  return { key: "`" + parts.join("/") + "`", template: true };
}

/**
 * Whether a topic name (no parameters) matches a pattern with parameters.
 * @param {string} name
 * @param {string} pattern
 */
function topicMatches(name, pattern) {
  const a = name.split("/");
  const b = pattern.split("/");
  return a.length === b.length && b.every((seg, i) => /^\{[^/{}]+\}$/.test(seg) ? a[i] !== "" : seg === a[i]);
}

/**
 * A schema with its object keywords' defaults filled in and keys sorted, to
 * compare shapes: "type": "object", "properties": {} and "required": [] are
 * what an object schema without them means.
 * @param {unknown} s
 * @returns {string}
 */
function canonical(s) {
  /** @param {unknown} v @returns {unknown} */
  const sort = (v) => {
    if (Array.isArray(v)) return v.map(sort);
    if (!isObj(v)) return v;
    /** @type {Obj} */
    const o = {};
    for (const k of Object.keys(v).sort()) o[k] = sort(v[k]);
    return o;
  };
  if (!isObj(s)) return JSON.stringify(s);
  const o = { ...s };
  if (o.type === undefined && (o.properties || o.required)) o.type = "object";
  if (o.type === "object") {
    if (o.properties === undefined) o.properties = {};
    if (o.required === undefined) o.required = [];
  }
  return JSON.stringify(sort(o));
}

/**
 * @param {unknown} a
 * @param {unknown} b
 */
function sameShape(a, b) {
  return canonical(a) === canonical(b);
}

/**
 * The request payload without the fields the client sets itself (the route
 * key, the ref, the trace key): the route's input.
 * @param {Obj} payload prepared
 * @param {string[]} clientKeys
 * @returns {Obj}
 */
function inputSchema(payload, clientKeys) {
  const s = { ...payload };
  if (isObj(s.properties)) {
    const props = { ...s.properties };
    for (const k of clientKeys) delete props[k];
    s.properties = props;
  }
  if (Array.isArray(s.required)) s.required = s.required.filter((k) => !clientKeys.includes(k));
  // A route schema that is not a plain object schema comes as
  // {type: object, properties: {key, ref}, allOf: [schema]}: the input is the schema.
  const keys = Object.keys(s).filter((k) => !(k === "type" && s.type === "object"));
  if (
    keys.every((k) => k === "properties" || k === "required" || k === "allOf") &&
    Object.keys(s.properties ?? {}).length === 0 &&
    Array.isArray(s.allOf) &&
    s.allOf.length === 1
  ) {
    return s.allOf[0];
  }
  return s;
}

/**
 * The server ignores unknown input fields unless the route says
 * StrictFields (additionalProperties: false): the input type does the same,
 * with an index signature of unknown.
 * @param {Obj} s
 * @returns {Obj}
 */
function openInput(s) {
  if (s.type === "object" && !("additionalProperties" in s) && !("unevaluatedProperties" in s) && !("patternProperties" in s)) {
    return { ...s, additionalProperties: true };
  }
  return s;
}

/**
 * Checks that v is a wsroute AsyncAPI 3 document and returns it typed loosely.
 * @param {unknown} doc
 * @returns {Obj}
 */
export function checkDocument(doc) {
  if (!isObj(doc)) throw new GenerateError("not an AsyncAPI document: the JSON is not an object");
  if (typeof doc.asyncapi !== "string") throw new GenerateError('not an AsyncAPI document: no "asyncapi" version field');
  if (!/^3\.\d+\.\d+/.test(doc.asyncapi)) {
    throw new GenerateError(`not an AsyncAPI 3 document: "asyncapi" is ${JSON.stringify(doc.asyncapi)}, wsroute-gen reads 3.x`);
  }
  if (!isObj(doc.channels) || Object.keys(doc.channels).length === 0) {
    throw new GenerateError("not a wsroute document: it has no channels");
  }
  for (const [key, ch] of Object.entries(doc.channels)) {
    const c = deref(doc, ch, `channel ${JSON.stringify(key)}`);
    const x = c["x-wsroute"];
    if (!isObj(x) || typeof x.routeKey !== "string" || typeof x.refKey !== "string" || x.routeKey === "" || x.refKey === "") {
      throw new GenerateError(
        `not a wsroute document: channel ${JSON.stringify(key)} has no x-wsroute {routeKey, refKey} (documents written by wsroute.AsyncAPI have one on every channel)`,
      );
    }
  }
  if (doc.operations !== undefined && !isObj(doc.operations)) throw new GenerateError('"operations" is not an object');
  return doc;
}

/**
 * @typedef {object} Route
 * @property {string} name
 * @property {string} summary
 * @property {string} input TS type
 * @property {string} reply TS type
 *
 * @typedef {object} Event
 * @property {string} pattern
 * @property {string} summary
 * @property {string} type TS type
 *
 * @typedef {object} Channel
 * @property {string} key
 * @property {string} typeName
 * @property {string} address
 * @property {string} routeKey
 * @property {string} refKey
 * @property {string[]} clientKeys the fields the client sets: route key, ref, trace key
 * @property {string} summary
 * @property {Route[]} routes
 * @property {Event[]} events
 * @property {string[]} notes
 */

/**
 * Generates api.gen.ts from a wsroute AsyncAPI 3.0 document. The same
 * document always gives the same bytes.
 * @param {unknown} input the parsed document
 * @param {GenerateOptions} [options]
 * @returns {Promise<string>}
 */
export async function generate(input, options = {}) {
  const doc = checkDocument(input);
  const names = new Names();

  /** @type {Channel[]} */
  const channels = [];
  /** @type {Map<string, Channel>} */
  const byKey = new Map();
  for (const [key, raw] of Object.entries(doc.channels)) {
    const c = deref(doc, raw, `channel ${JSON.stringify(key)}`);
    const x = c["x-wsroute"];
    const ch = {
      key,
      typeName: names.take(pascal(key) + "Channel"),
      address: typeof c.address === "string" ? c.address : "",
      routeKey: x.routeKey,
      refKey: x.refKey,
      clientKeys: typeof x.traceKey === "string" && x.traceKey !== "" ? [x.routeKey, x.refKey, x.traceKey] : [x.routeKey, x.refKey],
      summary: typeof c.summary === "string" ? c.summary : "",
      routes: [],
      events: [],
      notes: [],
    };
    channels.push(ch);
    byKey.set(key, ch);
  }

  // Shared schemas keep their key's PascalCase name.
  const schemas = isObj(doc.components) && isObj(doc.components.schemas) ? doc.components.schemas : {};
  /** @type {Map<string, string>} */
  const componentNames = new Map();
  for (const key of Object.keys(schemas)) componentNames.set(key, names.take(pascal(key)));
  /** @type {Obj} TS name → prepared schema */
  const definitions = {};
  for (const [key, s] of Object.entries(schemas)) {
    definitions[/** @type {string} */ (componentNames.get(key))] = prepare(s, componentNames, `components.schemas.${key}`);
  }

  /** @type {string[]} the types of messages, in document order */
  const messageTypes = [];
  /**
   * A TS type for a prepared schema: a component's name when the schema is
   * just a reference to one, else a new named type.
   * @param {Obj} schema
   * @param {string} want
   */
  const typeFor = (schema, want) => {
    const keys = Object.keys(schema).filter((k) => k !== "description");
    if (keys.length === 1 && typeof schema.$ref === "string" && /^#\/definitions\/[^/]+$/.test(schema.$ref)) {
      return schema.$ref.slice("#/definitions/".length);
    }
    const name = names.take(want);
    definitions[name] = schema;
    messageTypes.push(name);
    return name;
  };

  /** @type {Map<string, {schema: unknown, type: string}>} topic pattern → its data's type */
  const topicTypes = new Map();
  const operations = isObj(doc.operations) ? doc.operations : {};
  for (const [opKey, rawOp] of Object.entries(operations)) {
    const where = `operation ${JSON.stringify(opKey)}`;
    const op = deref(doc, rawOp, where);
    const x = isObj(op["x-wsroute"]) ? op["x-wsroute"] : {};
    const chRef = isObj(op.channel) ? op.channel.$ref : undefined;
    if (typeof chRef !== "string" || !chRef.startsWith("#/channels/")) {
      throw new GenerateError(`${where}: its channel is not a $ref to #/channels/…`);
    }
    const chKey = unescapeToken(chRef.slice("#/channels/".length), chRef);
    const ch = byKey.get(chKey);
    if (!ch) throw new GenerateError(`${where}: channel ${JSON.stringify(chKey)} is not in the document`);
    const messages = Array.isArray(op.messages) ? op.messages : [];
    const summary = typeof op.summary === "string" ? op.summary : "";

    if (op.action === "receive") {
      if (x.default === true) {
        ch.notes.push("Frames naming no route go to the default handler" + (summary ? ` (${summary})` : "") + "; its replies reach onFrame.");
        continue;
      }
      if (x.binary === true) {
        ch.notes.push("Binary frames go to the binary handler" + (summary ? ` (${summary})` : "") + "; this client sends text only.");
        continue;
      }
      if (typeof x.route !== "string") continue; // not a wsroute route
      const route = x.route;
      if (messages.length === 0) throw new GenerateError(`${where}: no request message`);
      const req = deref(doc, messages[0], `${where} request`);
      const reqPayload = prepare(req.payload ?? {}, componentNames, `${where} request payload`);
      const base = pascal(ch.key) + pascal(route);
      const input = inputSchema(reqPayload, ch.clientKeys);
      // A route schema that refers to itself was copied to components.schemas
      // (as "<channel>.<route>.input"): the input is that type.
      const same = [...componentNames].find(([key, name]) => key.startsWith(ch.key + ".") && sameShape(definitions[name], input));
      const inputType = same ? same[1] : typeFor(openInput(input), base + "Input");

      const replies = isObj(op.reply) && Array.isArray(op.reply.messages) ? op.reply.messages : [];
      // The channel's error message is always the last; a reply comes first.
      /** @type {Obj} */
      let replyPayload;
      if (replies.length >= 2) {
        const rep = deref(doc, replies[0], `${where} reply`);
        replyPayload = prepare(rep.payload ?? {}, componentNames, `${where} reply payload`);
      } else {
        // No reply of its own: the server answers with the bare ack.
        replyPayload = {
          type: "object",
          description: "The bare ack: the route has no output of its own.",
          properties: {
            [ch.routeKey]: { type: "string", const: route },
            [ch.refKey]: componentNames.has("wsroute.Ref") ? { $ref: "#/definitions/" + componentNames.get("wsroute.Ref") } : { type: ["string", "number"] },
          },
          required: [ch.routeKey],
        };
      }
      // An output of any value (an interface, json.RawMessage) comes under
      // "result" or, when it is an object, merged: its fields are unknown.
      const result = isObj(replyPayload.properties) ? replyPayload.properties.result : undefined;
      if (isObj(result) && result.tsType === "unknown" && !("additionalProperties" in replyPayload)) {
        replyPayload = { ...replyPayload, additionalProperties: true };
      }
      const replyType = typeFor(replyPayload, base + "Reply");
      ch.routes.push({ name: route, summary, input: inputType, reply: replyType });
    } else if (op.action === "send") {
      if (typeof x.topic !== "string") continue;
      if (messages.length === 0) throw new GenerateError(`${where}: no event message`);
      const ev = deref(doc, messages[0], `${where} message`);
      const payload = ev.payload;
      if (!isObj(payload) || !isObj(payload.properties) || !("data" in payload.properties)) {
        throw new GenerateError(`${where}: the event's payload is not {topic, data}`);
      }
      const data = prepare(payload.properties.data, componentNames, `${where} data`);
      // Topics belong to the router, not to a channel: one type per topic.
      const known = topicTypes.get(x.topic);
      /** @type {string} */
      let type;
      if (known && sameShape(known.schema, data)) {
        type = known.type;
      } else {
        type = typeFor(isObj(data) ? data : {}, pascal(x.topic) + "Event");
        if (!known) topicTypes.set(x.topic, { schema: data, type });
      }
      ch.events.push({ pattern: x.topic, summary, type });
    }
  }

  // The types json-schema-to-typescript writes: those of the messages and
  // the shared schemas they reach, nothing else.
  /** @type {string[]} */
  const reached = [];
  /** @type {Set<string>} */
  const seen = new Set();
  /** @param {string} name */
  const reach = (name) => {
    if (seen.has(name)) return;
    seen.add(name);
    if (!messageTypes.includes(name)) reached.push(name);
    eachRef(definitions[name], reach);
  };
  for (const c of channels) {
    for (const r of c.routes) (reach(r.input), reach(r.reply));
    for (const e of c.events) reach(e.type);
  }
  const componentTypes = [...componentNames.values()].filter((n) => seen.has(n)); // document order

  const declarations = await compileTypes(definitions, [...messageTypes, ...componentTypes]);

  // --- assemble ---
  const title = isObj(doc.info) && typeof doc.info.title === "string" ? doc.info.title : "(untitled)";
  const version = isObj(doc.info) && typeof doc.info.version === "string" ? doc.info.version : "(no version)";
  let out = "";
  out += "// Code generated by wsroute-gen. DO NOT EDIT.\n";
  out += `// From the AsyncAPI document ${oneLine(JSON.stringify(title))} version ${oneLine(JSON.stringify(version))}`;
  out += options.source ? ` (${oneLine(options.source)}).\n` : ".\n";
  out += "//\n";
  out += '// A channel\'s interface is the type parameter of connect ("@wsroute/client"):\n';
  out += `//   const client = connect<${channels[0].typeName}>(new URL(channels.${propKeyAccess(channels[0].key)}.address, "wss://api.example.com"));\n`;
  out += "\n";

  for (const c of channels) {
    const head = [`${c.address || c.key}${c.summary ? ` — ${c.summary}` : ""}`];
    if (c.notes.length) head.push("", ...c.notes);
    out += jsdoc(head, "");
    out += `export interface ${c.typeName} {\n`;
    out += c.routes.length ? "  requests: {\n" : "  requests: {};\n";
    for (const r of c.routes) {
      out += jsdoc([r.summary], "    ");
      out += `    ${propKey(r.name)}: { input: ${r.input}; reply: ${r.reply} };\n`;
    }
    if (c.routes.length) out += "  };\n";
    out += c.events.length ? "  events: {\n" : "  events: {};\n";
    for (const e of c.events) {
      const { key, template } = topicKey(e.pattern);
      let type = e.type;
      if (template) {
        // A literal topic this pattern also matches must fit its index signature.
        const also = c.events.filter((o) => !topicKey(o.pattern).template && topicMatches(o.pattern, e.pattern)).map((o) => o.type);
        type = [...new Set([type, ...also])].join(" | ");
      }
      out += jsdoc([e.summary], "    ");
      out += template ? `    [topic: ${key}]: ${type};\n` : `    ${propKey(e.pattern)}: ${type};\n`;
    }
    if (c.events.length) out += "  };\n";
    out += "}\n\n";
  }

  out += "/** Each channel's address, route key and correlation key (connect's routeKey and refKey options). */\n";
  out += "export const channels = {\n";
  for (const c of channels) {
    out += `  ${propKey(c.key)}: { address: ${JSON.stringify(c.address)}, routeKey: ${JSON.stringify(c.routeKey)}, refKey: ${JSON.stringify(c.refKey)} },\n`;
  }
  out += "} as const;\n";

  const sections = [
    ["Requests and replies (the reply is the whole frame: route key, ref and the handler's output)", messageTypes],
    ["Shared schemas (components.schemas)", componentTypes],
  ];
  for (const [heading, list] of /** @type {[string, string[]][]} */ (sections)) {
    const decls = list.map((n) => declarations.get(n)).filter(Boolean);
    if (decls.length === 0) continue;
    out += `\n// ${heading}\n\n`;
    out += decls.join("\n\n") + "\n";
  }
  const extra = [...declarations.keys()].filter((n) => !messageTypes.includes(n) && !componentTypes.includes(n));
  if (extra.length) {
    out += "\n// Named by json-schema-to-typescript\n\n";
    out += extra.map((n) => declarations.get(n)).join("\n\n") + "\n";
  }
  return out;
}

/** @param {string} s */
function oneLine(s) {
  return s.replace(/[\r\n\u2028\u2029]+/g, " ");
}

/** @param {string} key */
function propKeyAccess(key) {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? key : `[${JSON.stringify(key)}]`;
}

const ROOT = "WsrouteGenRoot__";

/**
 * Compiles every definition in one pass of json-schema-to-typescript (so a
 * shared schema is declared once) and returns the declarations by name.
 * @param {Obj} definitions TS name → prepared schema
 * @param {string[]} wanted the names that must come out
 * @returns {Promise<Map<string, string>>}
 */
async function compileTypes(definitions, wanted) {
  /** @type {typeof import("json-schema-to-typescript")} */
  let jstt;
  try {
    jstt = await import("json-schema-to-typescript");
  } catch {
    throw new GenerateError(
      "json-schema-to-typescript is not installed: it is an optional peer dependency of @wsroute/client that only the generator needs (npm install -D json-schema-to-typescript@^16)",
    );
  }
  /** @type {Obj} */
  const properties = {};
  for (const n of wanted) properties[n] = { $ref: "#/definitions/" + n };
  const root = {
    type: "object",
    properties,
    required: wanted,
    additionalProperties: false,
    definitions: structuredClone(definitions),
  };
  /** @type {string} */
  let ts;
  /** @type {string[]} */
  const errors = [];
  const origError = console.error;
  console.error = (...a) => errors.push(a.join(" ")); // its validator logs instead of throwing a message
  try {
    ts = await jstt.compile(/** @type {any} */ (root), ROOT, {
      bannerComment: "",
      additionalProperties: false, // only what the document declares can be read
      declareExternallyReferenced: true,
      unreachableDefinitions: false,
      unknownAny: true,
      strictIndexSignatures: false,
      enableConstEnums: true,
      format: true,
      // The names are the generator's: the key a schema has in definitions.
      customName: (_schema, keyNameFromDefinition) => keyNameFromDefinition,
      $refOptions: { resolve: { external: false, file: false, http: false } },
      style: { bracketSpacing: true, printWidth: 100, semi: true, singleQuote: false, tabWidth: 2, trailingComma: "all", useTabs: false },
    });
  } catch (e) {
    throw new GenerateError(`json-schema-to-typescript: ${/** @type {Error} */ (e).message || e}${errors.length ? ": " + errors.join("; ") : ""}`);
  } finally {
    console.error = origError;
  }
  /** @type {Map<string, string>} */
  const decls = new Map();
  for (const chunk of splitDeclarations(ts)) {
    const m = /^export (?:interface|type|(?:const )?enum) ([A-Za-z0-9_$]+)/m.exec(chunk);
    if (!m) throw new GenerateError(`json-schema-to-typescript wrote an unexpected declaration:\n${chunk}`);
    if (m[1] === ROOT) continue;
    decls.set(m[1], chunk);
  }
  for (const n of wanted) {
    if (!decls.has(n)) throw new GenerateError(`internal: json-schema-to-typescript did not declare ${n}`);
  }
  return decls;
}

/**
 * Splits json-schema-to-typescript's (formatted) output into its top-level
 * declarations, each with its doc comment: one starts at a column-0 "/**",
 * or at a column-0 "export" that no such comment precedes.
 * @param {string} ts
 * @returns {string[]}
 */
function splitDeclarations(ts) {
  /** @type {string[][]} */
  const chunks = [];
  let inComment = false;
  for (const line of ts.split("\n")) {
    const starts = line.startsWith("/**") || (line.startsWith("export ") && !inComment);
    if (starts) chunks.push([]);
    if (line.startsWith("/**")) inComment = true;
    if (line.startsWith("export ")) inComment = false;
    if (chunks.length === 0) {
      if (line.trim() !== "") throw new GenerateError(`json-schema-to-typescript wrote an unexpected line: ${line}`);
      continue;
    }
    chunks[chunks.length - 1].push(line);
  }
  return chunks.map((c) => c.join("\n").trim());
}
