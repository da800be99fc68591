// Search attributes every runbook run sets, so people can find runs in the Web UI ("RunbookStatus" =
// "awaiting-approval") and the worker can count pending approvals. Registered by temporal-config/setup.ts.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const RunbookType = defineSearchAttributeKey('RunbookType', SearchAttributeType.KEYWORD);
export const RunbookTarget = defineSearchAttributeKey('RunbookTarget', SearchAttributeType.KEYWORD);
export const RunbookStatus = defineSearchAttributeKey('RunbookStatus', SearchAttributeType.KEYWORD);
export const RunbookRequester = defineSearchAttributeKey('RunbookRequester', SearchAttributeType.KEYWORD);

export const ALL_SEARCH_ATTRIBUTES = [RunbookType, RunbookTarget, RunbookStatus, RunbookRequester];
