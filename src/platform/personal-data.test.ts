import { describe, expect, it } from 'vitest';
import { maskEmails, maskPayloadText, maskPersonalData } from './personal-data.js';

describe('masking personal data', () => {
  it('masks personal fields at any depth, keeping ids and structure', () => {
    let deep: Record<string, unknown> = { email: 'deep@example.com', userId: 'u-1' };
    for (let level = 0; level < 10; level += 1) deep = { level, child: deep };
    const masked = JSON.stringify(maskPersonalData({ payload: { firstName: 'Jane', lastName: 'Doe', email: 'jane@example.com', userId: 'u-2' }, deep }));
    expect(masked).not.toMatch(/Jane|Doe|example\.com/);
    expect(masked).toContain('u-1');
    expect(masked).toContain('u-2');
    expect(masked).toContain('"level":9');
  });

  it('masks e-mail addresses in free text and in values of other fields', () => {
    expect(maskEmails('DUPLICATE: jane.doe+x@example.com is used')).toBe('DUPLICATE: [redacted] is used');
    expect(JSON.stringify(maskPersonalData({ note: 'write to a@b.example' }))).not.toContain('a@b.example');
  });

  it('masks a JSON payload by field, and a text that is not JSON by shape', () => {
    expect(maskPayloadText('{"data":{"users":[{"name":"Ann","email":"ann@x.example","role":"admin_user"}]}}')).toBe(
      '{"data":{"users":[{"name":"[redacted]","email":"[redacted]","role":"admin_user"}]}}',
    );
    expect(maskPayloadText('{"email":"broken@x.example"')).toBe('{"email":"[redacted]"');
  });
});
