import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { authoriseUpload, type UploadPorts } from '../../shared/uploads/authoriseUpload';
import { uploadRequestSchema } from '../../shared/uploads/uploadRequest';
import { MemoryJobStatuses } from '../support/memoryJobPorts';

describe('upload requests', () => {
  it('accepts a plain file name whose extension matches the image type, in any case', () => {
    for (const [fileName, contentType] of [
      ['sunset.png', 'image/png'],
      ['Holiday (2) final.JPEG', 'image/jpeg'],
      ['scan.tif', 'image/tiff'],
    ] as const) {
      assert.ok(uploadRequestSchema.safeParse({ fileName, contentType }).success, fileName);
    }
  });

  it('names the field at fault: folders, "..", a wrong extension, an unknown type, extra fields', () => {
    const issues = (body: unknown) =>
      uploadRequestSchema.safeParse(body).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    assert.deepEqual(issues({ fileName: 'a.png', contentType: 'image/jpeg' }), [
      'fileName: must end in .jpg or .jpeg for image/jpeg',
    ]);
    assert.match(issues({ fileName: '../a.png', contentType: 'image/png' }).join(), /^fileName: may contain only/);
    assert.match(issues({ fileName: 'a/b.png', contentType: 'image/png' }).join(), /^fileName: may contain only/);
    assert.deepEqual(issues({ fileName: 'a..png', contentType: 'image/png' }), ['fileName: may not contain ".."']);
    assert.match(issues({ fileName: 'a.svg', contentType: 'image/svg+xml' }).join(), /^contentType: must be one of/);
    assert.ok(issues({ fileName: 'a.png', contentType: 'image/png', container: 'x' }).length > 0);
  });

  it('signs a URL for {jobId}/{fileName} valid from a minute ago, and creates the job waiting for the upload', async () => {
    const jobs = new MemoryJobStatuses();
    const signed: string[] = [];
    const ports: UploadPorts = {
      container: 'uploads',
      sasLifetimeMs: 15 * 60_000,
      maxBytes: 1024,
      newJobId: () => 'upl_test1',
      signUploadUrl: (blobName, contentType, startsOn, expiresOn) => {
        signed.push(`${blobName} ${contentType} ${startsOn.toISOString()} ${expiresOn.toISOString()}`);
        return Promise.resolve(`https://storage.example/uploads/${blobName}?sig`);
      },
      jobs,
    };
    const now = new Date('2026-11-25T12:00:00.000Z');
    const upload = await authoriseUpload(ports, { fileName: 'sunset.png', contentType: 'image/png' }, now);
    assert.deepEqual(signed, ['upl_test1/sunset.png image/png 2026-11-25T11:59:00.000Z 2026-11-25T12:15:00.000Z']);
    assert.deepEqual(upload, {
      jobId: 'upl_test1',
      container: 'uploads',
      blobName: 'upl_test1/sunset.png',
      contentType: 'image/png',
      url: 'https://storage.example/uploads/upl_test1/sunset.png?sig',
      expiresAt: new Date('2026-11-25T12:15:00.000Z'),
      maxBytes: 1024,
    });
    const job = jobs.jobs.get('upl_test1');
    assert.equal(job?.type, 'thumbnail');
    assert.equal(job?.status, 'queued');
    assert.deepEqual(job?.data, { container: 'uploads', name: 'upl_test1/sunset.png', contentType: 'image/png' });
    assert.equal(job?.progress?.step, 'awaiting-upload');
    assert.equal(
      jobs.events('upl_test1')[0]?.message,
      'upload of sunset.png authorised until 2026-11-25T12:15:00.000Z',
    );
  });
});
