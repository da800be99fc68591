// Search attributes the runbooks set, so people can find runs in the Web UI ("RunbookStatus" =
// "awaiting-approval") and the worker can count pending approvals. Safe to import from workflows.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const RunbookType = defineSearchAttributeKey('RunbookType', SearchAttributeType.KEYWORD);
export const RunbookTarget = defineSearchAttributeKey('RunbookTarget', SearchAttributeType.KEYWORD);
export const RunbookStatus = defineSearchAttributeKey('RunbookStatus', SearchAttributeType.KEYWORD);
export const RunbookRequester = defineSearchAttributeKey('RunbookRequester', SearchAttributeType.KEYWORD);

export const ALL_SEARCH_ATTRIBUTES = [RunbookType, RunbookTarget, RunbookStatus, RunbookRequester];
