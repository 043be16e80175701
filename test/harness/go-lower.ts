// The Go oracle of the normalization tests (test/harness/go-lower): Go's own strings.ToLower,
// unicode.ToLower and regexp, built once and cached like the other Go tools.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureGoBinaries } from './go-build.js';
import { repoRoot } from './paths.js';
import { runOk } from './run.js';

let binary: Promise<string> | undefined;

/** The path of the built go-lower binary (built on first use; seconds, standard library only). */
export function ensureGoLower(): Promise<string> {
  binary ??= (async () => {
    const moduleDir = join(repoRoot, 'test', 'harness', 'go-lower');
    const source = readFileSync(join(moduleDir, 'main.go'));
    const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
    const dir = await ensureGoBinaries({
      name: 'go-lower',
      moduleDir,
      commands: [
        {
          pkg: 'impersonation-operator.dev/go-lower',
          out: 'go-lower',
          ldflags: `-X main.sourceHash=${hash}`,
        },
      ],
    });
    return join(dir, 'go-lower');
  })();
  binary.catch(() => (binary = undefined));
  return binary;
}

/** Go's strings.ToLower of each string. */
export async function goStringsToLower(values: readonly string[]): Promise<string[]> {
  const out = await runOk(await ensureGoLower(), [], { input: JSON.stringify(values) });
  return JSON.parse(out) as string[];
}

/** Go's unicode.ToLower as a map of every rune it changes, and Go's unicode.Version. */
export async function goLowerRunes(): Promise<{ unicodeVersion: string; lower: Map<number, number> }> {
  const [header, ...lines] = (await runOk(await ensureGoLower(), ['-runes'])).trim().split('\n');
  const lower = new Map(lines.map((line) => line.split(' ').map((h) => parseInt(h, 16)) as [number, number]));
  return { unicodeVersion: header!.replace(/^unicode /, ''), lower };
}

/** The runs [first, last] of code points that Go's regexp (CEL's RE2) matches; surrogates never match. */
export async function goRegexpRuns(re2: string): Promise<[number, number][]> {
  const out = (await runOk(await ensureGoLower(), ['-match', re2])).trim();
  return out === ''
    ? []
    : out.split('\n').map((line) => line.split(' ').map((h) => parseInt(h, 16)) as [number, number]);
}
