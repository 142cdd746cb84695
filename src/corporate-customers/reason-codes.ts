/** The corporate flow's own reason codes (knapscen CloudEvents, Job mode), beside the ones every flow shares. */
declare module '../platform/validation.js' {
  interface FlowReasonCodes {
    UNKNOWN_TIER: true;
    UNKNOWN_ROLE: true;
    DUPLICATE_EMAIL: true;
    EMAIL_TAKEN: true;
    MISSING_ACCOUNT_OWNER: true;
    /** A registration knapscen's MySQL tables cannot hold while the mirror is on (KNAPSCEN_MYSQL_URL). */
    NOT_MIRRORABLE: true;
  }
}

export const CORPORATE_REASON_CODES = ['UNKNOWN_TIER', 'UNKNOWN_ROLE', 'DUPLICATE_EMAIL', 'EMAIL_TAKEN', 'MISSING_ACCOUNT_OWNER', 'NOT_MIRRORABLE'] as const;
