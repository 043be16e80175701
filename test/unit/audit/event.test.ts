import { describe, expect, it } from '@jest/globals';
import { eventsOf, toAuditRecord } from '../../../src/audit/event.js';

const alice = { username: 'alice@example.com', groups: ['sre-on-call', 'system:authenticated'] };

function event(extra: Record<string, unknown>): Record<string, unknown> {
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: 'id-1',
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/default/pods?limit=500',
    verb: 'list',
    user: { username: 'proxy', groups: ['system:authenticated'] },
    objectRef: { resource: 'pods', namespace: 'default', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
    stageTimestamp: '2026-01-05T10:00:01.000002Z',
    ...extra,
  };
}

function refusal(message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return event({
    responseStatus: { metadata: {}, status: 'Failure', reason: 'Forbidden', code: 403, message, details },
  });
}

describe('toAuditRecord', () => {
  it.each([
    {
      name: 'impersonated request, decision annotation wins over the code',
      given: event({
        impersonatedUser: alice,
        responseStatus: { code: 404 },
        annotations: { 'authorization.k8s.io/decision': 'allow' },
      }),
      expected: {
        kind: 'impersonated',
        target: alice,
        outcome: 'allowed',
        code: 404,
        action: { verb: 'list', resource: 'pods', namespace: 'default' },
      },
    },
    {
      name: 'impersonated request forbidden by RBAC (403, no annotation)',
      given: event({ impersonatedUser: alice, responseStatus: { code: 403, message: 'pods is forbidden' } }),
      expected: { kind: 'impersonated', outcome: 'forbidden' },
    },
    {
      name: 'forbid annotation',
      given: event({ impersonatedUser: alice, annotations: { 'authorization.k8s.io/decision': 'forbid' } }),
      expected: { kind: 'impersonated', outcome: 'forbidden' },
    },
    {
      name: 'no response yet (RequestReceived)',
      given: event({ impersonatedUser: alice, stage: 'RequestReceived', responseStatus: undefined }),
      expected: { kind: 'impersonated', outcome: 'unknown', code: undefined, stage: 'RequestReceived' },
    },
    {
      name: 'group, subresource and uid/extra',
      given: event({
        impersonatedUser: { username: 'u', uid: 'u-1', extra: { zz: ['1'], aa: ['2', 3] } },
        objectRef: { resource: 'deployments', subresource: 'scale', apiGroup: 'apps', namespace: 'ns' },
      }),
      expected: {
        target: { username: 'u', groups: [], uid: 'u-1', extra: { aa: ['2'], zz: ['1'] } },
        action: { verb: 'list', resource: 'deployments.apps/scale', namespace: 'ns' },
      },
    },
    {
      name: 'non-resource request uses the path without the query',
      given: event({
        impersonatedUser: alice,
        objectRef: undefined,
        requestURI: '/version?timeout=32s',
        verb: 'get',
      }),
      expected: { action: { verb: 'get', resource: '/version', namespace: '' } },
    },
    {
      name: 'refused user impersonation (name from details)',
      given: refusal(
        'users "alice@example.com" is forbidden: User "intruder" cannot impersonate resource "users" in API group "" at the cluster scope',
        { name: 'alice@example.com', kind: 'users' },
      ),
      expected: {
        kind: 'refused',
        attempted: { resource: 'users', name: 'alice@example.com', namespace: '' },
      },
    },
    {
      name: 'refused service account impersonation names the namespace (name from message)',
      given: refusal(
        'serviceaccounts "deployer" is forbidden: User "system:serviceaccount:kube-system:cicd-agent" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "other"',
      ),
      expected: {
        kind: 'refused',
        attempted: { resource: 'serviceaccounts', name: 'deployer', namespace: 'other' },
      },
    },
    {
      name: 'refused user extra',
      given: refusal(
        'userextras.authentication.k8s.io "view" is forbidden: User "proxy" cannot impersonate resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster scope',
      ),
      expected: {
        kind: 'refused',
        attempted: { resource: 'userextras/scopes', name: 'view', namespace: '' },
      },
    },
    {
      name: 'refused by constrained impersonation (Kubernetes 1.37, impersonator without any legacy grant)',
      given: refusal(
        'pods is forbidden: User "cli-intruder" cannot impersonate-on:user-info:list resource "pods" in API group "" in the namespace "ns"',
        { kind: 'pods' },
      ),
      expected: { kind: 'refused', attempted: { resource: 'user-info', name: '', namespace: '' } },
    },
    {
      name: 'refused on the constrained identity check',
      given: refusal(
        'serviceaccounts "deployer" is forbidden: User "x" cannot impersonate:serviceaccount resource "serviceaccounts" in API group "authentication.k8s.io" in the namespace "ns"',
      ),
      expected: {
        kind: 'refused',
        attempted: { resource: 'serviceaccounts', name: 'deployer', namespace: 'ns' },
      },
    },
    {
      name: 'refused group with a quote in its name',
      given: refusal(
        'groups "a\\"b" is forbidden: User "proxy" cannot impersonate resource "groups" in API group "" at the cluster scope',
      ),
      expected: { kind: 'refused', attempted: { resource: 'groups', name: 'a"b', namespace: '' } },
    },
  ])('$name', ({ given, expected }) => {
    expect(toAuditRecord(given)).toMatchObject(expected);
  });

  it.each([
    { name: 'a request without impersonation', given: event({}) },
    { name: 'an ordinary 403', given: refusal('pods is forbidden: User "x" cannot list resource "pods"') },
    { name: 'no user', given: event({ user: undefined, impersonatedUser: alice }) },
    { name: 'not an object', given: 'impersonatedUser' },
    { name: 'null', given: null },
  ])('ignores $name', ({ given }) => {
    expect(toAuditRecord(given)).toBeUndefined();
  });

  it('keeps the timestamp as logged and parses it', () => {
    const rec = toAuditRecord(event({ impersonatedUser: alice }));
    expect(rec?.timestamp).toBe('2026-01-05T10:00:01.000002Z');
    expect(rec?.time).toBe(Date.UTC(2026, 0, 5, 10, 0, 1));
  });
});

describe('eventsOf', () => {
  it.each([
    { name: 'an Event', given: { kind: 'Event' }, expected: [{ kind: 'Event' }] },
    {
      name: 'an EventList',
      given: { kind: 'EventList', items: [{ a: 1 }, { b: 2 }] },
      expected: [{ a: 1 }, { b: 2 }],
    },
    { name: 'anything else', given: 3, expected: [3] },
  ])('$name', ({ given, expected }) => {
    expect(eventsOf(given)).toEqual(expected);
  });
});
