import { describe, expect, it } from 'vitest';
import { formatCustomerNumber, parseCustomerNumber, yearMonthOf, type YearMonth } from './customer-number.js';

describe('customer number', () => {
  it('is PREFIX-YYYYMM-NNNNNN with the sequence zero-padded to six digits', () => {
    expect(formatCustomerNumber('ACME', '202601' as YearMonth, 142)).toBe('ACME-202601-000142');
    expect(formatCustomerNumber('ACME', '202601' as YearMonth, 1)).toBe('ACME-202601-000001');
  });

  it('widens to seven digits past 999999 instead of failing', () => {
    expect(formatCustomerNumber('ACME', '202601' as YearMonth, 999_999)).toBe('ACME-202601-999999');
    expect(formatCustomerNumber('ACME', '202601' as YearMonth, 1_000_000)).toBe('ACME-202601-1000000');
  });

  it('takes the UTC month of the registration instant', () => {
    expect(yearMonthOf(new Date('2026-01-31T23:59:59Z'))).toBe('202601');
    expect(yearMonthOf(new Date('2026-02-01T00:30:00+01:00'))).toBe('202601');
    expect(yearMonthOf(new Date('2026-12-01T00:00:00Z'))).toBe('202612');
  });

  it('rejects a sequence that is not a positive integer', () => {
    expect(() => formatCustomerNumber('ACME', '202601' as YearMonth, 0)).toThrow(RangeError);
    expect(() => formatCustomerNumber('ACME', '202601' as YearMonth, 1.5)).toThrow(RangeError);
  });

  it('parses what it formats', () => {
    expect(parseCustomerNumber('ACME-202601-000142')).toMatchObject({ prefix: 'ACME', yearMonth: '202601', sequence: 142 });
    expect(parseCustomerNumber('ACME-202601-1000000')).toMatchObject({ sequence: 1_000_000 });
  });

  it.each(['ACME-202613-000001', 'ACME-202601-00001', 'acme-202601-000001', 'ACME-202601-000000', 'ACME-202601-0000001', 'ACME202601000001', ''])(
    'refuses %j',
    (value) => {
      expect(parseCustomerNumber(value)).toBeUndefined();
    },
  );
});
