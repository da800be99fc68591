// What every transport shows besides the text: the run in the Temporal Web UI, and for approvers the
// commands that decide it. Pure functions (the payload builders and the unit tests use them).
import type { Audience, Severity } from './types';

export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/** Whether a transport routed by audiences and lowest severity takes a notification. */
export function routes(r: { audiences: readonly Audience[]; minSeverity: Severity }, n: { audience: Audience; severity: Severity }): boolean {
  return r.audiences.includes(n.audience) && SEVERITY_RANK[n.severity] >= SEVERITY_RANK[r.minSeverity];
}

/** `${uiUrl}/namespaces/<namespace>/workflows/<workflowId>` */
export function runUrl(uiUrl: string, namespace: string, workflowId: string): string {
  return `${uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

export function decisionCommands(workflowId: string): { approve: string; reject: string } {
  return {
    approve: `npm run runbook -- approve ${workflowId} --as <you>`,
    reject: `npm run runbook -- reject ${workflowId} --as <you> --comment "<why>"`,
  };
}
