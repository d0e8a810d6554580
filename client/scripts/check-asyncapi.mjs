#!/usr/bin/env node
// check-asyncapi.mjs FILE... — validates AsyncAPI documents with the
// official parser (@asyncapi/parser) and exits 1 if any has an error-level
// diagnostic. Warnings and hints are printed, not fatal.
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: check-asyncapi.mjs FILE...");
  process.exit(2);
}
const parser = new Parser();
let failed = false;
for (const file of files) {
  const text = await readFile(file, "utf8");
  const { document, diagnostics } = await parser.parse(text, { source: file });
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  for (const d of diagnostics) {
    const level = ["error", "warning", "info", "hint"][d.severity] ?? d.severity;
    console.log(`${file}: ${level}: ${d.code}: ${d.message} at /${d.path.join("/")}`);
  }
  if (errors.length > 0 || !document) {
    failed = true;
    console.log(`${file}: INVALID (${errors.length} errors)`);
    continue;
  }
  const ops = document.operations().length;
  const chans = document.channels().length;
  const msgs = document.allMessages().length;
  console.log(`${file}: valid AsyncAPI ${document.version()}: ${chans} channels, ${ops} operations, ${msgs} messages`);
}
process.exit(failed ? 1 : 0);
