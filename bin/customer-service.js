#!/usr/bin/env node
// Runs the compiled CLI (npm run build). During development use `npm run cli -- <command>`.
import '../dist/main.js';
