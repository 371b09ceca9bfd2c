#!/usr/bin/env node
// The devhost command: a thin shim over the compiled CLI (run `npm run build` first).
require('../dist/devhost/cli.js').main(process.argv.slice(2));
