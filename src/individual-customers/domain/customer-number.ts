/**
 * Customer numbers: `PREFIX-YYYYMM-NNNNNN`. `YYYYMM` is the UTC month of registration; `NNNNNN` is the per-month
 * sequence, zero-padded to six digits and widened (never truncated, never failing) past 999999.
 */
import type { Brand } from './ids.js';

export type CustomerNumber = Brand<string, 'CustomerNumber'>;
export type YearMonth = Brand<string, 'YearMonth'>;

const CUSTOMER_NUMBER_PATTERN = /^([A-Z][A-Z0-9]{0,15})-(\d{4}(?:0[1-9]|1[0-2]))-(\d{6,})$/;

/** The UTC month of an instant, as `YYYYMM`. */
export function yearMonthOf(instant: Date): YearMonth {
  const month = String(instant.getUTCMonth() + 1).padStart(2, '0');
  return `${instant.getUTCFullYear()}${month}` as YearMonth;
}

export function formatCustomerNumber(prefix: string, yearMonth: YearMonth, sequence: number): CustomerNumber {
  if (!Number.isSafeInteger(sequence) || sequence < 1) {
    throw new RangeError(`customer number sequence must be a positive integer, got ${sequence}`);
  }
  return `${prefix}-${yearMonth}-${String(sequence).padStart(6, '0')}` as CustomerNumber;
}

export interface ParsedCustomerNumber {
  readonly prefix: string;
  readonly yearMonth: YearMonth;
  readonly sequence: number;
}

export function parseCustomerNumber(value: string): (ParsedCustomerNumber & { readonly value: CustomerNumber }) | undefined {
  const match = CUSTOMER_NUMBER_PATTERN.exec(value);
  if (match === null) return undefined;
  const [, prefix = '', yearMonth = '', digits = ''] = match;
  const sequence = Number(digits);
  // Leading zeros beyond the six-digit padding would make two spellings of one number.
  if (sequence < 1 || (digits.length > 6 && digits.startsWith('0'))) return undefined;
  return { value: value as CustomerNumber, prefix, yearMonth: yearMonth as YearMonth, sequence };
}
