#!/usr/bin/env node
// Library instrumentations patch modules as they load (see platform/telemetry/instrumentations.ts): when tracing is
// configured they are enabled first, and the rest of the service is imported after.
import { instrumentLibraries, tracingRequested } from './platform/telemetry/instrumentations.js';

if (tracingRequested(process.env)) await instrumentLibraries();
const { runCli } = await import('./cli.js');

process.exitCode = await runCli(process.argv.slice(2));
