import { z } from 'zod';

/** The image types an upload may declare, each with the file extensions that go with it. */
export const UPLOAD_EXTENSIONS: Readonly<Record<string, readonly string[]>> = {
  'image/jpeg': ['jpg', 'jpeg'],
  'image/png': ['png'],
  'image/webp': ['webp'],
  'image/gif': ['gif'],
  'image/tiff': ['tif', 'tiff'],
  'image/avif': ['avif'],
};

/** The body of `POST /api/uploads`: a plain file name whose extension matches the declared image type. */
export const uploadRequestSchema = z
  .object({
    fileName: z
      .string()
      .min(1, 'is required')
      .max(200, 'must be at most 200 characters')
      // Only a plain file name: no folders, no `..`, nothing that could leave the uploads container or its prefix.
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9 ._()-]*$/,
        'may contain only letters, digits, spaces, dots, dashes, underscores and parentheses, starting with a letter or digit',
      )
      .refine((name) => !name.includes('..'), 'may not contain ".."'),
    contentType: z.enum(Object.keys(UPLOAD_EXTENSIONS) as [string, ...string[]], {
      message: `must be one of ${Object.keys(UPLOAD_EXTENSIONS).join(', ')}`,
    }),
  })
  .strict()
  .superRefine((value, ctx) => {
    const extension = value.fileName.split('.').pop()?.toLowerCase() ?? '';
    const allowed = UPLOAD_EXTENSIONS[value.contentType] ?? [];
    if (!allowed.includes(extension)) {
      ctx.addIssue({
        code: 'custom',
        path: ['fileName'],
        message: `must end in .${allowed.join(' or .')} for ${value.contentType}`,
      });
    }
  });
export type UploadRequest = z.infer<typeof uploadRequestSchema>;
