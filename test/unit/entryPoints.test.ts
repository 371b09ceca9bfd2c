import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { StartupError } from '../../devhost/config/errors';
import { resolveEntryPoints } from '../../devhost/core/appLoader';

/** package.json `main` expanded as the Node worker expands it (globby, relative to the app folder). */
describe('entry points from package.json main', () => {
  let appDir: string;
  const files = [
    'dist/src/index.js',
    'dist/src/functions/a.js',
    'dist/src/functions/b.js',
    'dist/src/functions/b.js.map',
    'dist/src/functions/nested/c.js',
    'dist/src/functions/a.test.js',
    'dist/src/.hidden.js',
    'dist/other/d.js',
  ];

  before(async () => {
    appDir = await mkdtemp(path.join(tmpdir(), 'devhost-entry-'));
    for (const file of files) {
      await mkdir(path.dirname(path.join(appDir, file)), { recursive: true });
      await writeFile(path.join(appDir, file), '');
    }
  });
  after(async () => {
    await rm(appDir, { recursive: true, force: true });
  });

  async function resolve(main: unknown): Promise<{ files: string[]; warning: string | undefined }> {
    await writeFile(path.join(appDir, 'package.json'), JSON.stringify(main === undefined ? {} : { main }));
    const result = await resolveEntryPoints(appDir);
    return {
      files: result.files.map((f) => path.relative(appDir, f).split(path.sep).join('/')).sort(),
      warning: result.warning,
    };
  }

  it("expands the v4 TypeScript template's brace glob", async () => {
    const result = await resolve('dist/src/{index.js,functions/*.js}');
    assert.deepEqual(result.files, [
      'dist/src/functions/a.js',
      'dist/src/functions/a.test.js',
      'dist/src/functions/b.js',
      'dist/src/index.js',
    ]);
    assert.equal(result.warning, undefined);
  });

  it('expands ** across folders and skips dot files', async () => {
    const result = await resolve('dist/src/**/*.js');
    assert.deepEqual(result.files, [
      'dist/src/functions/a.js',
      'dist/src/functions/a.test.js',
      'dist/src/functions/b.js',
      'dist/src/functions/nested/c.js',
      'dist/src/index.js',
    ]);
  });

  it('honours negation and several patterns', async () => {
    assert.deepEqual((await resolve(['dist/src/**/*.js', '!**/*.test.js', 'dist/other/*.js'])).files, [
      'dist/other/d.js',
      'dist/src/functions/a.js',
      'dist/src/functions/b.js',
      'dist/src/functions/nested/c.js',
      'dist/src/index.js',
    ]);
  });

  it('takes a plain path, ./ prefixes, and a folder as everything below it', async () => {
    assert.deepEqual((await resolve('./dist/src/index.js')).files, ['dist/src/index.js']);
    assert.deepEqual((await resolve('dist/other')).files, ['dist/other/d.js']);
  });

  it('only warns, with the worker message, when nothing matches', async () => {
    const glob = await resolve('dist/nowhere/*.js');
    assert.deepEqual(glob.files, []);
    assert.equal(
      glob.warning,
      'Worker was unable to load entry point "dist/nowhere/*.js": Found zero files matching the supplied pattern',
    );
    const plain = await resolve(undefined);
    assert.deepEqual(plain.files, []);
    assert.equal(plain.warning, 'Worker was unable to load entry point "index.js": File does not exist');
  });

  it('refuses a main that is not a string', async () => {
    await assert.rejects(() => resolve(42), StartupError);
  });
});
