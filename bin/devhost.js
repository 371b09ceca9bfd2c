#!/usr/bin/env node
// The devhost command: a thin shim over the compiled CLI. `npm install` / `npm ci` compile it (the `prepare` script);
// if that has not happened, say so in one line rather than with Node's module-not-found stack trace.
const path = require('node:path');

const cli = path.join(__dirname, '..', 'dist', 'devhost', 'cli.js');
let main;
try {
  ({ main } = require(cli));
} catch (error) {
  if (error && error.code === 'MODULE_NOT_FOUND' && String(error.message).includes(cli)) {
    process.stderr.write('devhost: not built yet: run `npm run build` (npm install runs it through `prepare`)\n');
  } else {
    process.stderr.write(`devhost: could not load ${cli}: ${String(error && error.message).split('\n')[0]}\n`);
  }
  process.exit(1);
}
main(process.argv.slice(2));
