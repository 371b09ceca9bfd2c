import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { GroupCommitter, type Outcome } from '../../shared/orders/groupCommit';

describe('group commit per key', () => {
  it('commits the first request at once and groups the ones that arrive while it is in flight', async () => {
    const commits: string[][] = [];
    let release: (() => void) | undefined;
    const committer = new GroupCommitter<string, string>(async (key, requests) => {
      commits.push(requests.map((r) => `${key}:${r}`));
      if (commits.length === 1) await new Promise<void>((resolve) => (release = resolve));
      return requests.map((r): Outcome<string> =>
        r === 'bad' ? { ok: false, error: new Error(r) } : { ok: true, value: r.toUpperCase() },
      );
    }, 3);
    const first = committer.submit('k', 'a');
    const later = ['b', 'c', 'bad', 'd'].map((r) => committer.submit('k', r));
    const other = committer.submit('other', 'x');
    release?.();
    assert.equal(await first, 'A');
    const settled = await Promise.allSettled(later);
    assert.deepEqual(
      settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message)),
      ['B', 'C', 'bad', 'D'],
    );
    assert.equal(await other, 'X');
    assert.deepEqual(commits, [['k:a'], ['other:x'], ['k:b', 'k:c', 'k:bad'], ['k:d']]);
  });

  it('fails every request of a group whose commit throws, and goes on with the next group', async () => {
    let calls = 0;
    const committer = new GroupCommitter<number, number>((_key, requests) => {
      calls++;
      if (calls === 1) return Promise.reject(new Error('storage down'));
      return Promise.resolve(requests.map((r) => ({ ok: true, value: r })));
    }, 10);
    await assert.rejects(committer.submit('k', 1), /storage down/);
    assert.equal(await committer.submit('k', 2), 2);
  });
});
