/* global process, console */
// Adds the coverage of the child processes (c8's istanbul map, from raw V8 coverage) to the in-process one (vitest's)
// and prints the summary for src/; writes text summary, json (the merged map), json-summary and html to coverage/.
//
// Why by hand: the two maps come from different converters (vitest's is AST-aware, c8's is line-based), so istanbul's
// own merge would put both sets of statements side by side and count type-only and blank lines twice. Here vitest's map
// stays the denominator; a statement or function counts as run when a child ran its first line. Branches are counted
// in process only (a child's V8 blocks do not line up with vitest's branch locations).
import { existsSync, readFileSync } from 'node:fs';
import libCoverage from 'istanbul-lib-coverage';
import libReport from 'istanbul-lib-report';
import reports from 'istanbul-reports';

const [inProcessFile, childrenFile] = process.argv.slice(2);
if (!existsSync(inProcessFile)) {
  console.error(`coverage: ${inProcessFile} missing: vitest wrote no coverage (did it stop before the end?)`);
  process.exit(1);
}
const map = libCoverage.createCoverageMap(JSON.parse(readFileSync(inProcessFile, 'utf8')));
if (existsSync(childrenFile)) {
  const children = libCoverage.createCoverageMap(JSON.parse(readFileSync(childrenFile, 'utf8')));
  for (const file of map.files()) {
    if (!children.files().includes(file)) continue;
    const ran = children.fileCoverageFor(file).getLineCoverage();
    const data = map.fileCoverageFor(file).data;
    for (const [id, location] of Object.entries(data.statementMap)) {
      if (data.s[id] === 0 && (ran[location.start.line] ?? 0) > 0) data.s[id] = ran[location.start.line];
    }
    // A function counts as run when a child ran a function starting on the same line: the line of a declaration
    // itself runs when its module loads, called or not, so its line count would say every function ran.
    const calls = new Map();
    const child = children.fileCoverageFor(file).data;
    for (const [id, fn] of Object.entries(child.fnMap)) {
      calls.set(fn.loc.start.line, Math.max(calls.get(fn.loc.start.line) ?? 0, child.f[id]));
    }
    for (const [id, fn] of Object.entries(data.fnMap)) {
      const hits = Math.max(calls.get(fn.loc.start.line) ?? 0, calls.get((fn.decl ?? fn.loc).start.line) ?? 0);
      if (data.f[id] === 0 && hits > 0) data.f[id] = hits;
    }
  }
} else {
  console.warn(`coverage: ${childrenFile} missing: in-process coverage only`);
}
const context = libReport.createContext({ dir: 'coverage', coverageMap: map });
for (const name of ['text-summary', 'json', 'json-summary', 'html']) reports.create(name).execute(context);
const lines = map.getCoverageSummary().lines.pct;
const minimum = Number(process.env.COVERAGE_MIN_LINES ?? '0');
if (lines < minimum) {
  console.error(`coverage: ${lines} % of lines is under the minimum of ${minimum} %`);
  process.exitCode = 1;
}
