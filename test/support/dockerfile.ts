/**
 * A small Dockerfile parser and the image rules this project holds its Dockerfile to. No Docker engine runs on the
 * test machines, so this is what stands between a broken Dockerfile and a merge.
 */

export interface Instruction {
  /** Upper-case keyword, e.g. `RUN`. */
  readonly keyword: string;
  /** The raw arguments, continuation lines joined. */
  readonly args: string;
  /** The exec-form arguments when the instruction uses the JSON form (`["a", "b"]`). */
  readonly exec?: readonly string[];
  readonly line: number;
}

export interface Stage {
  readonly image: string;
  readonly name?: string;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  readonly globalArgs: Readonly<Record<string, string>>;
  readonly stages: readonly Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index += 1) {
    const start = index;
    let line = lines[index] ?? '';
    if (/^\s*(#|$)/.test(line)) continue;
    // Continuation lines (ending in a backslash) join the next line; comment lines inside are dropped, as Docker does.
    while (/\\\s*$/.test(line) && index + 1 < lines.length) {
      index += 1;
      const next = lines[index] ?? '';
      line = line.replace(/\\\s*$/, ' ') + (/^\s*#/.test(next) ? '' : next.trim());
    }
    const match = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(line);
    if (match === null) throw new Error(`line ${start + 1}: not an instruction: ${line}`);
    const keyword = (match[1] ?? '').toUpperCase();
    const args = (match[2] ?? '').trim();
    instructions.push({ keyword, args, line: start + 1, ...execForm(keyword, args) });
  }

  const globalArgs: Record<string, string> = {};
  const stages: { image: string; name?: string; instructions: Instruction[] }[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [image = '', as, name] = instruction.args.replace(/--platform=\S+\s+/, '').split(/\s+/);
      const resolved = image.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_all, arg: string) => globalArgs[arg] ?? '');
      stages.push({ image: resolved, ...(as?.toUpperCase() === 'AS' && name !== undefined ? { name } : {}), instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword !== 'ARG') throw new Error(`line ${instruction.line}: only ARG may precede the first FROM`);
      const [name = '', value = ''] = instruction.args.split('=');
      globalArgs[name] = value;
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  if (stages.length === 0) throw new Error('no FROM instruction');
  return { globalArgs, stages };
}

function execForm(keyword: string, args: string): { exec?: string[] } {
  if (!['RUN', 'CMD', 'ENTRYPOINT', 'HEALTHCHECK'].includes(keyword)) return {};
  const json = keyword === 'HEALTHCHECK' ? /\bCMD\s+(\[[\s\S]*\])$/.exec(args)?.[1] : args.startsWith('[') ? args : undefined;
  if (json === undefined) return {};
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) throw new Error(`${keyword}: exec form must be a JSON array of strings`);
  return { exec: parsed };
}

/** The rules; returns one message per broken rule (none for a good Dockerfile). */
export function lintDockerfile(text: string): string[] {
  const problems: string[] = [];
  let file: Dockerfile;
  try {
    file = parseDockerfile(text);
  } catch (error) {
    return [`does not parse: ${(error as Error).message}`];
  }
  const { stages } = file;
  const runtime = stages.at(-1) as Stage;
  const of = (stage: Stage, keyword: string) => stage.instructions.filter((instruction) => instruction.keyword === keyword);

  if (stages.length < 2) problems.push('not multi-stage: build and runtime must be separate stages');
  const build = stages.find((stage) => of(stage, 'RUN').some((run) => /\bnpm run build\b/.test(run.args)));
  if (build === undefined) problems.push('no stage compiles the TypeScript with `npm run build`');
  if (build === runtime) problems.push('the runtime stage must not be the build stage (it would carry the dev dependencies)');
  if (!/^node:\d+(\.\d+)*-(slim|alpine)/.test(runtime.image)) problems.push(`runtime image "${runtime.image}" is not a small node image (node:<version>-slim or -alpine)`);
  // Pinned: an exact release (major.minor.patch) or a digest, never a moving tag such as node:24-slim.
  for (const stage of stages) {
    if (!/^node:\d+\.\d+\.\d+-|@sha256:[0-9a-f]{64}$/.test(stage.image)) problems.push(`base image "${stage.image}" is not pinned to an exact release or digest`);
  }
  // OCI annotations on the runtime image.
  const labels = of(runtime, 'LABEL').map((label) => label.args).join(' ');
  for (const key of ['title', 'description', 'version', 'revision', 'licenses']) {
    if (!labels.includes(`org.opencontainers.image.${key}=`)) problems.push(`the runtime image has no org.opencontainers.image.${key} label`);
  }

  // Non-root: the last USER of the runtime stage, by number (Kubernetes' runAsNonRoot cannot check a name).
  const user = of(runtime, 'USER').at(-1)?.args.split(':')[0];
  if (user === undefined) problems.push('the runtime stage has no USER: it would run as root');
  else if (user === 'root' || user === '0') problems.push('the runtime stage runs as root');
  else if (!/^\d+$/.test(user)) problems.push(`USER "${user}" should be numeric so runAsNonRoot can verify it`);

  // ENTRYPOINT is the customer-service executable, exec form (so SIGTERM reaches node, not a shell).
  const entrypoint = of(runtime, 'ENTRYPOINT').at(-1);
  if (entrypoint === undefined) problems.push('the runtime stage has no ENTRYPOINT');
  else if (entrypoint.exec === undefined) problems.push('ENTRYPOINT must use the exec form, so signals reach the process');
  else if (!/customer-service(\.js)?$/.test(entrypoint.exec.at(-1) ?? '') || entrypoint.exec.length > 2) {
    problems.push(`ENTRYPOINT ${JSON.stringify(entrypoint.exec)} is not the customer-service executable`);
  }
  if (entrypoint?.exec?.[0] === 'customer-service' && !of(runtime, 'RUN').some((run) => /customer-service\.js\s+\/usr\/local\/bin\/customer-service\b/.test(run.args))) {
    problems.push('ENTRYPOINT customer-service is not put on the PATH');
  }

  // Only production dependencies reach the runtime stage.
  const installs = (stage: Stage) => of(stage, 'RUN').filter((run) => /\bnpm (ci|install|i)\b/.test(run.args));
  for (const run of installs(runtime)) {
    if (!/--omit=dev\b/.test(run.args)) problems.push(`line ${run.line}: the runtime stage installs dev dependencies`);
  }
  for (const copy of of(runtime, 'COPY')) {
    const from = /--from=(\S+)/.exec(copy.args)?.[1];
    const sources = copy.args.replace(/--\S+/g, '').trim().split(/\s+/).slice(0, -1);
    if (sources.some((source) => /node_modules/.test(source))) {
      const origin = stages.find((stage) => stage.name === from);
      if (origin === undefined) problems.push(`line ${copy.line}: node_modules copied from an unknown stage`);
      else if (origin === build || !installs(origin).every((run) => /--omit=dev\b/.test(run.args)) || installs(origin).length === 0) {
        problems.push(`line ${copy.line}: node_modules come from stage "${from}", which installs dev dependencies`);
      }
    }
    if (from === undefined && sources.some((source) => /^(\.\/)?(src|test|node_modules)\b|^\.\/?$/.test(source))) {
      problems.push(`line ${copy.line}: the runtime stage copies sources or local files (${sources.join(' ')}) instead of build output`);
    }
  }
  if (of(runtime, 'CMD').at(-1)?.exec?.[0] !== 'serve') problems.push('CMD should default to ["serve"]');
  return problems;
}
