// The generated CRD on the real API server: it installs (CEL cost estimates included), the example
// policies apply, and the API server reaches the same verdict as the zod schema on every shared
// fixture, refusing invalid policies with a message that names the field (and, for CEL rules, the fix).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { dump } from 'js-yaml';
import { CRD_NAME, crdPath, impersonationPolicyCrd, parsePolicy } from '../../src/api/index.js';
import { kubectl, kubectlOk } from '../harness/kubectl.js';
import { examplesDir, loadExamplePolicies, loadFixtures, repoRoot } from '../unit/api/fixtures.js';

const suffix = Date.now().toString(36);
const created: string[] = [];

/** Every CEL message in the CRD: when zod reports one, the API server must report it too. */
function celMessages(): Set<string> {
  const messages = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'x-kubernetes-validations')
          for (const v of value as { message: string }[]) messages.add(v.message);
        else walk(value);
      }
    }
  };
  walk(impersonationPolicyCrd());
  return messages;
}

async function dryRunCreate(text: string) {
  return kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { input: text });
}

describe('ImpersonationPolicy CRD on the API server', () => {
  beforeAll(async () => {
    await kubectlOk([
      'apply',
      '--server-side',
      '--force-conflicts',
      '--field-manager=crd-test',
      '-f',
      join(repoRoot, crdPath),
    ]);
    await kubectlOk(['wait', '--for=condition=Established', `crd/${CRD_NAME}`, '--timeout=60s']);
    // Discovery of a fresh CRD can lag a moment behind Established.
    for (let i = 0; i < 30; i++) {
      if ((await kubectl(['get', 'impersonationpolicies', '-o', 'name'])).code === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  });

  afterAll(async () => {
    for (const name of created)
      await kubectl(['delete', 'impersonationpolicy', name, '--ignore-not-found', '--wait=false']);
  });

  it('is installed with its names, short name and status subresource', async () => {
    const crd = JSON.parse(await kubectlOk(['get', 'crd', CRD_NAME, '-o', 'json'])) as {
      spec: { scope: string; names: { shortNames: string[] }; versions: { subresources: unknown }[] };
      status: { conditions: { type: string; status: string }[] };
    };
    expect(crd.spec.scope).toBe('Cluster');
    expect(crd.spec.names.shortNames).toEqual(['imppol']);
    expect(crd.spec.versions[0]?.subresources).toEqual({ status: {} });
    expect(crd.status.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'NamesAccepted', status: 'True' }),
        expect.objectContaining({ type: 'Established', status: 'True' }),
      ]),
    );
  });

  const valid = [...loadFixtures('valid'), ...loadExamplePolicies()];
  it.each(valid.map((f) => [f.name, f] as const))('accepts %s, as zod does', async (_name, fixture) => {
    expect(parsePolicy(fixture.object).ok).toBe(true);
    const result = await dryRunCreate(dump(fixture.object));
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  });

  const cel = celMessages();
  it.each(loadFixtures('invalid').map((f) => [f.name, f] as const))(
    'rejects %s, as zod does, naming the field',
    async (_name, fixture) => {
      const zod = parsePolicy(fixture.object);
      expect(zod.ok).toBe(false);
      const result = await dryRunCreate(fixture.text);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('is invalid');
      expect(result.stderr).toContain(fixture.expectField);
      if (!zod.ok) {
        for (const message of cel)
          if (zod.message.includes(message)) expect(result.stderr).toContain(message);
      }
    },
  );

  it('applies manifests/examples as a whole', async () => {
    // The prerequisites (namespaces, service accounts, the deployer's Role) have fixed names and are
    // applied for real, idempotently, and left in place: other tests may share them, and deleting a
    // namespace under a parallel test would break it. The policies themselves go through a
    // server-side dry run here; the next test stores them under unique names.
    await kubectlOk(['apply', '-f', join(examplesDir, '00-prerequisites.yaml')]);
    const result = await kubectl(['apply', '--dry-run=server', '-f', examplesDir]);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  });

  it('stores the example policies with their defaults and shows the printer columns', async () => {
    for (const example of loadExamplePolicies()) {
      const object = JSON.parse(JSON.stringify(example.object)) as { metadata: { name: string } };
      object.metadata.name = `${object.metadata.name}-${suffix}`;
      created.push(object.metadata.name);
      await kubectlOk(['create', '-f', '-'], { input: JSON.stringify(object) });
      const stored = JSON.parse(
        await kubectlOk(['get', 'impersonationpolicy', object.metadata.name, '-o', 'json']),
      ) as {
        spec: { groupNameNormalization: string; targets?: { allowAnyUser: boolean } };
        status?: unknown;
      };
      expect(stored.spec.groupNameNormalization).toBe('AccessProxy');
      // Not reconciled yet (no operator runs here): kstatus/Flux must read "in progress", not "Current".
      expect(stored.status).toEqual({ observedGeneration: 0 });
      if (stored.spec.targets !== undefined) expect(stored.spec.targets.allowAnyUser).toBe(false);
    }
    const table = await kubectlOk(['get', 'imppol', created[0]!]);
    expect(
      table
        .split('\n')[0]
        ?.split(/\s+/)
        .filter((c) => c !== ''),
    ).toEqual([
      'NAME',
      'READY',
      'ROLES',
      'GROUPS',
      'COLLISIONS',
      'ANY-USER',
      'LIFETIME',
      'NEXT-CHANGE',
      'AGE',
    ]);
  });

  it('explains every field (kubectl explain)', async () => {
    let text = '';
    for (let i = 0; i < 30; i++) {
      const result = await kubectl(['explain', 'impersonationpolicies.spec.targets.allowAnyUser']);
      text = result.stdout;
      if (result.code === 0 && text.includes('DANGER')) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(text).toContain('DANGER: let the impersonators become ANY user name');
    const roles = await kubectlOk(['explain', 'imppol.spec.roles']);
    expect(roles).toContain('External roles whose groups the impersonators may assert');
    expect(roles).toMatch(/clusterRoles\s+<\[\]string> -required-/);
    const spec = await kubectlOk(['explain', 'imppol.spec']);
    expect(spec).toMatch(/validFrom\s+<string>/);
    expect(spec).toMatch(/validUntil\s+<string>/);
    expect(spec).toMatch(/suspend\s+<boolean>/);
    expect(spec).toMatch(/groupPrefix\s+<string>/);
    expect((await kubectlOk(['explain', 'imppol.spec.validUntil'])).replace(/\s+/g, ' ')).toContain(
      'End of the window (exclusive: at this second the grants are gone)',
    );
    // kubectl wraps descriptions: compare with white space collapsed.
    const lifetime = (await kubectlOk(['explain', 'imppol.status.lifetime'])).replace(/\s+/g, ' ');
    expect(lifetime).toContain('Outside Active nothing the policy grants exists; that is the desired state');
    expect(lifetime).toMatch(/ENUM: Active NotYetValid Expired Suspended/);
  });

  it('refuses a policy name too long for a label value, with the reason', async () => {
    const text = readFileSync(join(repoRoot, 'test/fixtures/policies/invalid/name-too-long.yaml'), 'utf8');
    const result = await dryRunCreate(text);
    expect(result.stderr).toContain('metadata.name must be at most 63 characters');
  });
});
