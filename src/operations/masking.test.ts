import { describe, expect, it } from 'vitest';
import { maskedPayload, maskPersonalData, maskText } from './masking.js';

describe('personal data masking', () => {
  it('masks e-mail addresses and names, at any depth, and leaves ids and codes alone', () => {
    const masked = maskPersonalData({
      eventId: 'e-1',
      payload: { userId: 'u-1', email: 'jane.doe@example.com', firstName: 'Jane', lastName: 'Doe', marketingOptIn: true },
      users: [{ name: 'Ann Owner', email: 'ann@corp.example', role: 'customer_account_owner' }],
      name: { firstName: 'Jane', lastName: 'Doe', displayName: 'Jane Doe' },
      note: 'contact jane.doe@example.com',
    });
    expect(masked).toEqual({
      eventId: 'e-1',
      payload: { userId: 'u-1', email: 'j***@e***.com', firstName: 'J***', lastName: 'D***', marketingOptIn: true },
      users: [{ name: 'A***', email: 'a***@c***.example', role: 'customer_account_owner' }],
      name: { firstName: 'J***', lastName: 'D***', displayName: 'J***' },
      note: 'contact j***@e***.com',
    });
  });

  it('masks a payload that is not JSON by its e-mail addresses, and reveals when allowed', () => {
    expect(maskedPayload(Buffer.from('broken {"email":"x@y.io"'), false)).toBe('broken {"email":"x***@y***.io"');
    expect(maskedPayload(Buffer.from('{"email":"x@y.io"}'), true)).toEqual({ email: 'x@y.io' });
    expect(maskText('')).toBe('');
  });
});
