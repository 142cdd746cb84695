/* global module, require, __dirname */
/* eslint-disable @typescript-eslint/no-require-imports -- dependency-cruiser reads a CommonJS config */
// Layer rules of src/ (issue 12), run by `npm run lint`: a flow is a folder of its own, the platform under it names no
// flow, and each flow's domain is pure. See docs/architecture.md.
const { existsSync, readdirSync } = require('node:fs');
const { join } = require('node:path');

// A flow is a folder of src/ with a flow.ts (listed in src/flows.ts): a new flow is under these rules without editing them.
const FLOWS = `(${readdirSync(join(__dirname, 'src'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && entry.name !== 'platform' && existsSync(join(__dirname, 'src', entry.name, 'flow.ts')))
  .map((entry) => entry.name)
  .join('|')})`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'A flow\'s domain/ decides with plain functions: it imports only its own domain (and id libraries), no I/O, no platform.',
      severity: 'error',
      from: { path: `^src/${FLOWS}/domain/`, pathNot: '\\.test\\.ts$' },
      to: { pathNot: ['^src/$1/domain/', '^node_modules/uuid/'] },
    },
    {
      name: 'platform-names-no-flow',
      comment:
        'src/platform is the machinery that runs flows; it imports no flow and none of the composition root ' +
        '(config.ts included: each platform module owns its option types, config.ts maps the environment into them).',
      severity: 'error',
      // Its tests may check how config.ts maps the environment into a module's options.
      from: { path: '^src/platform/', pathNot: '\\.test\\.ts$' },
      to: { path: '^src/', pathNot: '^src/platform/' },
    },
    {
      name: 'flows-are-independent',
      comment: 'A flow imports no other flow: what two flows share belongs in src/platform.',
      severity: 'error',
      from: { path: `^src/${FLOWS}/` },
      to: { path: `^src/${FLOWS}/`, pathNot: '^src/$1/' },
    },
    {
      name: 'flows-do-not-import-the-root',
      comment: 'The composition root (service.ts, app.ts, cli.ts, flows.ts) imports the flows, not the other way round.',
      severity: 'error',
      from: { path: `^src/${FLOWS}/` },
      to: { path: '^src/(service|app|cli|flows|main)\\.ts$' },
    },
    {
      name: 'no-circular',
      comment: 'Import cycles hide which module owns what (and break module initialisation order).',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports count: a layer that needs another's types depends on it.
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
