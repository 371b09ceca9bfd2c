import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { BlobPathError, BlobPathPattern } from '../../devhost/blob/blobPathPattern';

describe('blob trigger path patterns', () => {
  it('a bare container matches every blob in it', () => {
    const pattern = BlobPathPattern.parse('uploads');
    assert.equal(pattern.container, 'uploads');
    assert.deepEqual(pattern.match('a/b/c.png'), {});
  });

  it('captures parameters greedily, across slashes, as the host regex does', () => {
    const pattern = BlobPathPattern.parse('uploads/{name}.{ext}');
    assert.deepEqual(pattern.match('a.b.c'), { name: 'a.b', ext: 'c' });
    assert.deepEqual(pattern.match('dir/photo.jpg'), { name: 'dir/photo', ext: 'jpg' });
    assert.equal(pattern.match('no-dot'), undefined);
  });

  it('matches literal parts exactly and case-sensitively', () => {
    const pattern = BlobPathPattern.parse('inbox/images/{name}');
    assert.deepEqual(pattern.match('images/x.png'), { name: 'x.png' });
    assert.equal(pattern.match('Images/x.png'), undefined);
    assert.equal(pattern.match('other/x.png'), undefined);
  });

  it('treats regex characters and doubled braces as literals', () => {
    const pattern = BlobPathPattern.parse('inbox/a+b({{x}})/{name}');
    assert.deepEqual(pattern.match('a+b({x})/y'), { name: 'y' });
    assert.deepEqual(BlobPathPattern.parse('inbox/fixed{{1}}.txt').match('fixed{1}.txt'), {});
  });

  it('refuses what the host refuses, naming the problem', () => {
    assert.throws(() => BlobPathPattern.parse('{c}/x'), /container paths cannot contain/);
    assert.throws(() => BlobPathPattern.parse('Uploads/x'), /lower-case/);
    assert.throws(() => BlobPathPattern.parse('inbox/{name'), /unmatched '\{'/);
    assert.throws(() => BlobPathPattern.parse('inbox/{a}-{a}'), /twice/);
    assert.throws(() => BlobPathPattern.parse('inbox/{a.b}'), BlobPathError);
  });
});
