import { describe, expect, it } from '@jest/globals';
import { RecentWrites } from '../../../src/controller/recent-writes.js';

const obj = (rv: string, tag = '') => ({ metadata: { name: 'x', resourceVersion: rv }, tag });

describe('RecentWrites', () => {
  const make = () => {
    let now = 0;
    const recent = new RecentWrites(1000, () => now);
    return { recent, advance: (ms: number) => (now += ms) };
  };

  it.each([
    { name: 'no write remembered: the cache wins', write: undefined, cached: obj('5'), expected: '5' },
    {
      name: 'cache missing our create: our object',
      write: obj('7', 'ours'),
      cached: undefined,
      expected: '7',
    },
    {
      name: 'cache older than our write: our object',
      write: obj('7', 'ours'),
      cached: obj('5'),
      expected: '7',
    },
    { name: 'cache caught up: the cache', write: obj('7'), cached: obj('7', 'cache'), expected: '7' },
    {
      name: 'cache newer (someone edited after us): the cache',
      write: obj('7'),
      cached: obj('9'),
      expected: '9',
    },
    { name: 'unparsable resourceVersion: the cache', write: obj('abc'), cached: obj('5'), expected: '5' },
  ])('observe: $name', ({ write, cached, expected }) => {
    const { recent } = make();
    if (write) recent.wrote('k', write);
    expect(recent.observe('k', cached)?.metadata.resourceVersion).toBe(expected);
  });

  it('hides an object we deleted until the cache moves past the deletion', () => {
    const { recent } = make();
    recent.deleted('k', obj('5'));
    expect(recent.observe('k', obj('5'))).toBeUndefined();
    expect(recent.observe('k', obj('8'))?.metadata.resourceVersion).toBe('8'); // recreated since
  });

  it('recognises the echo of our own write once, and nothing else', () => {
    const { recent } = make();
    recent.wrote('k', obj('7'));
    expect(recent.isEcho('k', obj('6'), false)).toBe(false);
    expect(recent.isEcho('k', obj('7'), false)).toBe(true);
    expect(recent.isEcho('k', obj('7'), false)).toBe(false); // consumed
    recent.deleted('d', obj('3'));
    expect(recent.isEcho('d', obj('3'), true)).toBe(true);
    recent.wrote('w', obj('4'));
    expect(recent.isEcho('w', obj('4'), true)).toBe(false); // someone else deleted what we wrote
  });

  it('forgets on request and after the TTL, so stale memory never outlives a deletion', () => {
    const { recent, advance } = make();
    recent.wrote('a', obj('7'));
    recent.forget('a');
    expect(recent.observe('a', undefined)).toBeUndefined();
    recent.wrote('b', obj('7'));
    advance(1001);
    expect(recent.observe('b', undefined)).toBeUndefined();
    recent.wrote('c', obj('1'));
    advance(1001);
    recent.sweep();
    expect(recent.size).toBe(0);
  });
});

describe('RecentWrites per policy', () => {
  it('lists what was written for a policy until the cache catches up or it is deleted', () => {
    let now = 0;
    const recent = new RecentWrites(1000, () => now);
    recent.wrote('ClusterRoleBinding//a', obj('7'), 'p');
    recent.wrote('ClusterRoleBinding//b', obj('8'), 'p');
    recent.wrote('ClusterRoleBinding//c', obj('9'), 'q');
    expect(recent.writtenFor('p').sort()).toEqual(['ClusterRoleBinding//a', 'ClusterRoleBinding//b']);
    recent.deleted('ClusterRoleBinding//b', obj('8'), 'p');
    expect(recent.writtenFor('p')).toEqual(['ClusterRoleBinding//a']);
    recent.observe('ClusterRoleBinding//a', obj('7')); // the cache caught up: the cache lists it now
    expect(recent.writtenFor('p')).toEqual([]);
    now += 2000;
    expect(recent.writtenFor('q')).toEqual([]);
  });
});
