// Loads ImpersonationPolicies from files and folders (multi-document YAML or JSON, `kind: List`
// included) and validates them with the API's zod schema. Every problem names the file, the
// document (1-based) and the field path.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EVENT_ID, getScalarValue, loadAll, parseEvents, YAMLException, type Event } from 'js-yaml';
import {
  API_VERSION,
  GROUP,
  ImpersonationPolicySchema,
  KIND,
  type ImpersonationPolicy,
} from '../api/index.js';
import { errorMessage } from './args.js';

/** Where a document came from. `item` is set for an entry of a `kind: List` document. */
export interface DocumentSource {
  file: string;
  /** 1-based position of the YAML document in the file. */
  document: number;
  item?: number;
  /** 1-based line in the file, when known. */
  line?: number;
}

/** Input the commands cannot use at all (exit code 2). */
export interface InputProblem extends DocumentSource {
  field?: string;
  message: string;
}

/** A document that is an ImpersonationPolicy but not a valid one (the API server would reject it). */
export interface SchemaProblem extends DocumentSource {
  policy?: string;
  field: string;
  message: string;
}

/** A document that is some other Kubernetes object: skipped, reported for information. */
export interface SkippedDocument extends DocumentSource {
  apiVersion: string;
  kind: string;
  name?: string;
}

export interface LoadedPolicy {
  source: DocumentSource;
  policy: ImpersonationPolicy;
}

export interface PolicySet {
  files: string[];
  policies: LoadedPolicy[];
  invalid: SchemaProblem[];
  skipped: SkippedDocument[];
  problems: InputProblem[];
  /** 1-based line of a field (`spec.roles[1].name`, relative to the document or List item). */
  lineOf: (source: DocumentSource, field: string) => number | undefined;
}

const POLICY_FILE = /\.(ya?ml|json)$/i;
const SKIPPED_DIRS = new Set(['node_modules']);

/** Where a source is, for messages: `policies/a.yaml (document 2, items[0])`. */
export function describeSource(s: DocumentSource): string {
  const parts = [`document ${s.document}`];
  if (s.item !== undefined) parts.push(`items[${s.item}]`);
  if (s.line !== undefined) parts.push(`line ${s.line}`);
  return `${s.file} (${parts.join(', ')})`;
}

async function expand(
  path: string,
  explicit: boolean,
  out: string[],
  problems: InputProblem[],
): Promise<void> {
  if (path === '-') {
    out.push(path);
    return;
  }
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problems.push({
      file: path,
      document: 0,
      message: code === 'ENOENT' ? 'no such file or directory' : errorMessage(err),
    });
    return;
  }
  if (!isDir) {
    // A file named on the command line is read whatever its extension; in folders only YAML/JSON.
    if (explicit || POLICY_FILE.test(path)) out.push(path);
    return;
  }
  let entries: string[];
  try {
    entries = (await readdir(path)).sort();
  } catch (err) {
    problems.push({ file: path, document: 0, message: errorMessage(err) });
    return;
  }
  for (const entry of entries) {
    if (entry.startsWith('.') || SKIPPED_DIRS.has(entry)) continue;
    await expand(join(path, entry), false, out, problems);
  }
}

/** Expands folders (recursively, YAML and JSON files, sorted; hidden entries skipped). */
export async function policyFiles(
  paths: readonly string[],
): Promise<{ files: string[]; problems: InputProblem[] }> {
  const files: string[] = [];
  const problems: InputProblem[] = [];
  for (const p of paths) await expand(p, true, files, problems);
  return { files: [...new Set(files)], problems };
}

const MARKER = /^---(?:\s|$)/;

/**
 * The 1-based document a 0-based line/column falls in (`---` markers; content before the first
 * marker is document 1). An error at the very start of a marker line belongs to the document it ends.
 */
export function documentAtLine(text: string, line: number, column = 1): number {
  const lines = text.split('\n');
  let doc = 0;
  let sawContent = false;
  const last = column > 0 ? line : line - 1;
  for (let i = 0; i <= last && i < lines.length; i++) {
    const l = lines[i] ?? '';
    if (MARKER.test(l)) {
      doc = sawContent || doc > 0 ? doc + 1 : 1;
      sawContent = true;
    } else if (!sawContent && l.trim() !== '' && !l.trimStart().startsWith('#') && !l.startsWith('%')) {
      doc = 1;
      sawContent = true;
    }
  }
  return Math.max(doc, 1);
}

type Frame =
  | { kind: 'doc' }
  | { kind: 'map'; path: string; key: string | undefined; keyOffset: number }
  | { kind: 'seq'; path: string; index: number };

const join_ = (base: string, key: string): string => (base === '' ? key : `${base}.${key}`);

/**
 * For each document of a YAML text, the source offset of every field path (`spec.roles[1].name`;
 * a mapping value is located at its key). Only used to put line numbers on problems.
 */
export function fieldOffsets(text: string): Map<string, number>[] {
  const docs: Map<string, number>[] = [];
  let events: Event[];
  try {
    events = parseEvents(text, {});
  } catch {
    return docs;
  }
  const stack: Frame[] = [];
  for (const ev of events) {
    if (ev.type === EVENT_ID.DOCUMENT) {
      docs.push(new Map());
      stack.push({ kind: 'doc' });
      continue;
    }
    if (ev.type === EVENT_ID.POP) {
      stack.pop();
      continue;
    }
    const top = stack.at(-1);
    const current = docs.at(-1);
    if (!top || !current) continue;
    const start =
      ev.type === EVENT_ID.SCALAR ? ev.valueStart : ev.type === EVENT_ID.ALIAS ? ev.anchorStart : ev.start;
    let path: string;
    let offset = start;
    if (top.kind === 'doc') {
      path = '';
    } else if (top.kind === 'seq') {
      path = `${top.path}[${top.index}]`;
      top.index++;
    } else if (top.key === undefined) {
      // A mapping key. Complex (non-scalar) keys do not occur in Kubernetes objects: skip them.
      top.key = ev.type === EVENT_ID.SCALAR ? getScalarValue(text, ev) : '?';
      top.keyOffset = start;
      if (ev.type === EVENT_ID.MAPPING || ev.type === EVENT_ID.SEQUENCE)
        stack.push({ kind: 'seq', path: '?', index: 0 });
      continue;
    } else {
      path = join_(top.path, top.key);
      offset = top.keyOffset;
      top.key = undefined;
    }
    if (!current.has(path)) current.set(path, offset);
    if (ev.type === EVENT_ID.MAPPING) stack.push({ kind: 'map', path, key: undefined, keyOffset: -1 });
    else if (ev.type === EVENT_ID.SEQUENCE) stack.push({ kind: 'seq', path, index: 0 });
  }
  return docs;
}

/** Parent paths of `a.b[2].c`: `a.b[2]`, `a.b`, `a`, ``. */
function ancestors(path: string): string[] {
  const out: string[] = [];
  let p = path;
  while (p !== '') {
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    p = cut <= 0 ? '' : p.slice(0, cut);
    out.push(p);
  }
  return out;
}

/** 1-based line of a field (or of its nearest present ancestor, for a missing field). */
export function lineOf(
  text: string,
  offsets: Map<string, number> | undefined,
  path: string,
): number | undefined {
  if (!offsets) return undefined;
  for (const p of [path, ...ancestors(path)]) {
    const offset = offsets.get(p);
    if (offset !== undefined && offset >= 0) {
      let line = 1;
      for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
      return line;
    }
  }
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** zod issue path -> `spec.roles[1].name`. */
export function fieldPath(path: readonly PropertyKey[], prefix = ''): string {
  return path.reduce<string>(
    (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)),
    prefix,
  );
}

/** Finds the line of a field path in a document, parsing the file for positions only when asked. */
type Locate = (document: number, path: string) => number | undefined;

function locator(text: string): Locate {
  let offsets: Map<string, number>[] | undefined;
  return (document, path) => {
    offsets ??= fieldOffsets(text);
    return lineOf(text, offsets[document - 1], path);
  };
}

function classify(doc: unknown, source: DocumentSource, set: PolicySet, locate: Locate): void {
  if (doc === null || doc === undefined) return; // an empty document
  const prefix = source.item === undefined ? '' : `items[${source.item}]`;
  const at = (field: string): { line?: number } => {
    const line = locate(
      source.document,
      prefix === '' ? field : field === '' ? prefix : `${prefix}.${field}`,
    );
    return line === undefined ? {} : { line };
  };
  if (!isObject(doc)) {
    set.problems.push({
      ...source,
      ...at(''),
      message: 'not a Kubernetes object (expected a mapping with apiVersion and kind)',
    });
    return;
  }
  const kind = typeof doc.kind === 'string' ? doc.kind : undefined;
  const apiVersion = typeof doc.apiVersion === 'string' ? doc.apiVersion : undefined;
  if (kind === undefined || apiVersion === undefined) {
    const field = kind === undefined ? 'kind' : 'apiVersion';
    set.problems.push({
      ...source,
      ...at(field),
      field,
      message: 'not a Kubernetes object: apiVersion and kind are required',
    });
    return;
  }
  if (kind === 'List' && source.item === undefined) {
    const items = Array.isArray(doc.items) ? doc.items : [];
    items.forEach((item, i) => classify(item, { ...source, item: i }, set, locate));
    return;
  }
  const name =
    isObject(doc.metadata) && typeof doc.metadata.name === 'string' ? doc.metadata.name : undefined;
  const ours = kind === KIND || apiVersion.split('/')[0] === GROUP;
  if (!ours) {
    set.skipped.push({ ...source, apiVersion, kind, ...(name === undefined ? {} : { name }) });
    return;
  }
  const parsed = ImpersonationPolicySchema.safeParse(doc);
  if (parsed.success) {
    set.policies.push({ source, policy: parsed.data });
    return;
  }
  for (const issue of parsed.error.issues) {
    const field = fieldPath(issue.path);
    let message = issue.message;
    if (field === 'apiVersion') message = `must be ${API_VERSION}`;
    if (field === 'kind') message = `must be ${KIND}`;
    set.invalid.push({
      ...source,
      ...at(field),
      ...(name === undefined ? {} : { policy: name }),
      field,
      message,
    });
  }
}

function parseText(file: string, text: string, set: PolicySet): Locate {
  const locate = locator(text);
  let docs: unknown[];
  try {
    docs = loadAll(text, { filename: file });
  } catch (err) {
    const mark = isObject(err) && isObject(err.mark) ? (err as unknown as YAMLException).mark : undefined;
    const reason = isObject(err) && typeof err.reason === 'string' ? err.reason : errorMessage(err);
    set.problems.push({
      file,
      document: mark ? documentAtLine(text, mark.line, mark.column) : 1,
      ...(mark ? { line: mark.line + 1 } : {}),
      message: `YAML parse error: ${reason}`,
    });
    return locate;
  }
  docs.forEach((doc, i) => classify(doc, { file, document: i + 1 }, set, locate));
  return locate;
}

/**
 * Reads every policy under the given paths. Never throws for bad input: unusable input is in
 * `problems`, invalid policies in `invalid`.
 */
export async function loadPolicies(
  paths: readonly string[],
  stdin?: NodeJS.ReadableStream,
): Promise<PolicySet> {
  const { files, problems } = await policyFiles(paths);
  const locators = new Map<string, Locate>();
  const set: PolicySet = {
    files,
    policies: [],
    invalid: [],
    skipped: [],
    problems,
    lineOf: (source, field) => {
      const prefix = source.item === undefined ? '' : `items[${source.item}]`;
      const path = prefix === '' ? field : field === '' ? prefix : `${prefix}.${field}`;
      return locators.get(source.file)?.(source.document, path);
    },
  };
  for (const file of files) {
    let text: string;
    try {
      text = file === '-' ? await readAll(stdin ?? process.stdin) : await readFile(file, 'utf8');
    } catch (err) {
      set.problems.push({ file, document: 0, message: `cannot read: ${errorMessage(err)}` });
      continue;
    }
    locators.set(file, parseText(file, text, set));
  }
  return set;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
