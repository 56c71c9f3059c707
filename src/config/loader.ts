// Loading a node's configuration: a YAML file named by `-cfg_path`, overridden key
// by key by `KV_*` environment variables (SPEC §2), each key checked as the catalog
// says, then the rules that relate keys (src/config/checks.ts).
//
// Every problem found is reported, one `config error: …` line each, joined by
// newlines: an operator fixing a file should not have to restart once per typo.
// Each line names the key as written in YAML (`raft.peers[1].raft_addr`), the bad
// value, what was expected, and where the value came from (`n1.yml:12` or
// `from KV_RAFT_PEERS`). Checks that relate two keys run only when both keys are
// valid on their own, so one mistake is not reported twice.

import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import { requestTimeoutElections } from '../node/config.js';
import { camel, catalog, configKeys, required, type EnvSyntax, type NodeConfig, type Reads } from './catalog.js';
import { checkSecurity } from './security-checks.js';
import { checkRelations, didYouMean, isMapping, Problems, show, type Field, type KeyPath, type Origin, type Read } from './checks.js';

export type ConfigResult =
  | { readonly ok: true; readonly config: NodeConfig; readonly path: string }
  | { readonly ok: false; readonly error: string };

type Env = Readonly<Record<string, string | undefined>>;

/** A config file is a few hundred bytes; anything this large is the wrong file. */
export const configFileBytesMax = 1 << 20;

const sections: readonly string[] = Object.keys(catalog);
const keysByPath = new Map(configKeys.map((k) => [k.path, k]));
const keysByEnv = new Map(configKeys.map((k) => [k.env, k]));

function fail(lines: readonly string[]): ConfigResult {
  return { ok: false, error: lines.join('\n') };
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/:$/, '');
}

function envOrigin(variable: string): Origin {
  return { where: () => ` (from ${variable})` };
}

function fileOrigin(doc: Document, lines: LineCounter, sourceName: string): Origin {
  return {
    // The line of the value, or for a missing key the line of the nearest enclosing one.
    where: (path) => {
      for (let depth = path.length; depth > 0; depth--) {
        const node: unknown = doc.getIn(path.slice(0, depth), true);
        if (isNode(node) && node.range) return ` (${sourceName}:${lines.linePos(node.range[0]).line})`;
      }
      return ` (in ${sourceName})`;
    },
  };
}

// ---------------------------------------------------------------------------
// Gathering raw values: the file first, then the environment over it.

/** A key whose raw value was already reported as unusable (e.g. KV_RAFT_PEERS is not YAML). */
const reported = Symbol('reported');
type Settings = Map<string, Field | typeof reported>;

function collectFile(root: unknown, origin: Origin, sourceName: string, settings: Settings, p: Problems): void {
  if (root === null || root === undefined) return; // an empty file: every key from the environment
  if (!isMapping(root)) {
    p.lines.push(`config error: ${sourceName}: expected a mapping with the sections ${sections.join(', ')}, got ${show(root)}`);
    return;
  }
  for (const [section, body] of Object.entries(root)) {
    if (!sections.includes(section)) {
      p.add([section], origin, `unknown key${didYouMean(section, sections)}`);
      continue;
    }
    if (body === null) continue; // `log:` with nothing under it
    if (!isMapping(body)) {
      p.expected({ path: [section], value: body, origin }, 'a mapping');
      continue;
    }
    for (const [key, value] of Object.entries(body)) {
      const path = `${section}.${key}`;
      if (!keysByPath.has(path)) {
        const elsewhere = configKeys.find((k) => k.key === key);
        const hint = elsewhere ? `; did you mean ${elsewhere.path}?` : didYouMean(path, [...keysByPath.keys()]);
        p.add([section, key], origin, `unknown key${hint}`);
        continue;
      }
      // `key:` with no value (YAML null) leaves the key unset, like omitting it.
      if (value !== null) settings.set(path, { path: [section, key], value, origin });
    }
  }
}

function collectEnv(env: Env, settings: Settings, p: Problems): void {
  const names = Object.keys(env)
    .filter((name) => name.startsWith('KV_'))
    .sort();
  for (const name of names) {
    const text = env[name];
    if (text === undefined) continue;
    const key = keysByEnv.get(name);
    if (key === undefined) {
      const hint = didYouMean(name, [...keysByEnv.keys()]);
      p.lines.push(`config error: ${name}: unknown environment variable (a KV_* variable must name a config key)${hint}`);
      continue;
    }
    const path = [key.section, key.key];
    const origin = envOrigin(name);
    const value = parseEnvText(key.spec.envSyntax, text, path, origin, p);
    settings.set(key.path, value === reported ? reported : { path, value, origin });
  }
}

function parseEnvText(syntax: EnvSyntax, text: string, path: KeyPath, origin: Origin, p: Problems): unknown {
  switch (syntax) {
    case 'text':
      return text;
    case 'integer':
      // Strict: decimal digits only, so "10x", "1e3" and " 10" stay strings and are refused.
      return /^[0-9]+$/.test(text) ? Number(text) : text;
    case 'list':
      // A YAML/JSON flow list, or for convenience a comma-separated one.
      if (text.trim().startsWith('[')) return parseFlow(text, path, origin, p);
      return text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    case 'flow':
      return parseFlow(text, path, origin, p);
  }
}

function parseFlow(text: string, path: KeyPath, origin: Origin, p: Problems): unknown {
  const invalid = (why: string): typeof reported => {
    p.add(path, origin, `expected YAML or JSON flow text such as [{id: n1, raft_addr: "127.0.0.1:7081", ...}], got invalid YAML: ${why}`);
    return reported;
  };
  const doc = parseDocument(text, { uniqueKeys: true });
  const error = doc.errors[0];
  if (error !== undefined) return invalid(firstLine(error.message));
  // Some documents parse but cannot be built (an alias with no anchor): that is invalid text too.
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return invalid(e instanceof Error ? firstLine(e.message) : String(e));
  }
}

// ---------------------------------------------------------------------------
// Reading every key of the catalog, relating them, and assembling the config.

function readKeys(settings: Settings, sourceName: string, p: Problems): Reads {
  const reads: Record<string, Record<string, Read<unknown>>> = {};
  for (const k of configKeys) {
    const field = settings.get(k.path);
    let read: Read<unknown>;
    if (field === reported) read = { state: 'invalid' };
    else if (field !== undefined) {
      const value = k.spec.check(field, p);
      read = value === undefined ? { state: 'invalid' } : { state: 'set', value, field };
    } else if (k.spec.fallback === required) {
      p.lines.push(`config error: ${k.path}: required, not set (set it in ${sourceName} or with ${k.env})`);
      read = { state: 'invalid' };
    } else if (typeof k.spec.fallback === 'symbol') read = { state: 'unset' };
    else read = { state: 'default', value: k.spec.fallback };
    (reads[k.section] ??= {})[k.key] = read;
  }
  return reads as unknown as Reads;
}

function buildConfig(settings: Settings, sourceName: string, p: Problems): NodeConfig | undefined {
  const reads = readKeys(settings, sourceName, p);
  const relations = checkRelations(reads, p, requestTimeoutElections);
  const security = checkSecurity(reads, p);
  if (p.lines.length > 0 || relations === undefined || security === undefined) return undefined;
  const derivedValues = { ...relations, ...security };
  const config: Record<string, Record<string, unknown>> = {};
  for (const k of configKeys) {
    const read = (reads as unknown as Record<string, Record<string, Read<unknown>>>)[k.section]![k.key]!;
    const value = read.state === 'set' || read.state === 'default' ? read.value : (derivedValues as unknown as Record<string, unknown>)[k.path];
    if (value === undefined) throw new Error(`config: ${k.path} has neither a value nor a derived one`);
    (config[k.section] ??= {})[camel(k.key)] = value;
  }
  for (const section of Object.values(config)) Object.freeze(section);
  return Object.freeze(config) as unknown as NodeConfig;
}

// ---------------------------------------------------------------------------
// Entry points.

/** Parses and checks a config file's text with the environment over it; `sourceName` labels errors. */
export function parseConfig(yamlText: string, env: Env, sourceName: string): ConfigResult {
  const lines = new LineCounter();
  const doc = parseDocument(yamlText, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError !== undefined) return fail([`config error: ${sourceName}: invalid YAML: ${firstLine(yamlError.message)}`]);
  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return fail([`config error: ${sourceName}: invalid YAML: ${e instanceof Error ? e.message : String(e)}`]);
  }
  const problems = new Problems();
  const settings: Settings = new Map();
  collectFile(root, fileOrigin(doc, lines, sourceName), sourceName, settings, problems);
  collectEnv(env, settings, problems);
  const config = buildConfig(settings, sourceName, problems);
  if (config === undefined) return fail(problems.lines);
  return { ok: true, config, path: sourceName };
}

const usage =
  'usage: kvstore -cfg_path <file.yml> [--inspect] (also --cfg_path <file>, --cfg_path=<file>; --inspect is debug.inspect: true); ' +
  'every key can also be set by a KV_* environment variable, see config/config.example.yml';
const cfgPathFlags: readonly string[] = ['-cfg_path', '--cfg_path'];

function parseArgv(argv: readonly string[]): { readonly ok: true; readonly path: string; readonly inspect: boolean } | { readonly ok: false; readonly error: string } {
  let path: string | undefined;
  let inspect = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--inspect') {
      inspect = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    if (!cfgPathFlags.includes(flag)) return { ok: false, error: `config error: unknown argument ${JSON.stringify(arg)}; ${usage}` };
    const value = eq < 0 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || value === '' || value.startsWith('-')) {
      return { ok: false, error: `config error: ${flag} needs a file path${value ? `, got ${JSON.stringify(value)}` : ''}; ${usage}` };
    }
    if (path !== undefined) return { ok: false, error: `config error: ${flag} given more than once; ${usage}` };
    path = value;
  }
  return path === undefined ? { ok: false, error: `config error: missing -cfg_path; ${usage}` } : { ok: true, path, inspect };
}

function describeFsError(e: unknown): string {
  const code = typeof e === 'object' && e !== null && 'code' in e ? e.code : undefined;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a component of the path is not a directory';
    case 'ERR_ENCODING_INVALID_ENCODED_DATA':
      return 'not valid UTF-8';
    default:
      return e instanceof Error ? e.message : String(e);
  }
}

/** Reads the file named by `-cfg_path` in argv (process.argv.slice(2)); the result's path is absolute. */
export function loadConfig(argv: readonly string[], env: Env): ConfigResult {
  const args = parseArgv(argv);
  if (!args.ok) return args;
  const absolute = resolve(args.path);
  const cannot = (why: string): ConfigResult => fail([`config error: cannot read config file ${JSON.stringify(args.path)} (${absolute}): ${why}`]);
  let text: string;
  try {
    const stat = statSync(absolute);
    if (stat.isDirectory()) return cannot('it is a directory');
    if (!stat.isFile()) return cannot('not a regular file');
    if (stat.size > configFileBytesMax) return cannot(`larger than ${configFileBytesMax} bytes`);
    text = new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(absolute));
  } catch (e) {
    return cannot(describeFsError(e));
  }
  const result = parseConfig(text, env, args.path);
  if (!result.ok) return result;
  // --inspect wins over the file and the environment, as a command-line flag does.
  const config = args.inspect ? { ...result.config, debug: { ...result.config.debug, inspect: true } } : result.config;
  return { ...result, config, path: absolute };
}
