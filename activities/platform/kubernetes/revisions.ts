// What a Deployment and its ReplicaSets say, read the way kubectl reads them: revision numbers, the version
// (image tag) a template runs, whether a rollout is complete or failed. Pure: unit-tested without a cluster.
import type { V1Container, V1Deployment, V1LabelSelector, V1PodTemplateSpec } from '@kubernetes/client-node';
import { InvalidTargetError, UnsafeOperationError } from '../../errors';
import type { RolloutStatus } from '../port';

/** Set by the deployment controller on a Deployment (its current revision) and on each ReplicaSet. */
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
/** The template label the controller adds to tell ReplicaSets apart; a rollback drops it, as kubectl does. */
export const POD_TEMPLATE_HASH = 'pod-template-hash';

/** An image tag, as the configuration's `versions` are. */
export const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

type Annotated = { metadata?: { annotations?: Record<string, string> } };

export function revisionOf(o: Annotated): number {
  const n = Number(o.metadata?.annotations?.[REVISION_ANNOTATION]);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/** The controller has seen the Deployment's latest spec (its status and revision are about that spec). */
export function observed(d: V1Deployment): boolean {
  return (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
}

/** A label selector as the API's `labelSelector` query parameter. */
export function selectorString(sel: V1LabelSelector | undefined): string {
  const labels = Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  const expressions = (sel?.matchExpressions ?? []).map((e) => {
    switch (e.operator) {
      case 'In':
        return `${e.key} in (${(e.values ?? []).join(',')})`;
      case 'NotIn':
        return `${e.key} notin (${(e.values ?? []).join(',')})`;
      case 'Exists':
        return e.key;
      case 'DoesNotExist':
        return `!${e.key}`;
      default:
        throw new InvalidTargetError(`unknown label selector operator "${e.operator}"`);
    }
  });
  const all = [...labels, ...expressions];
  // An empty selector would select every pod of the namespace: never act on that.
  if (!all.length) throw new InvalidTargetError('the Deployment has an empty selector');
  return all.join(',');
}

/** The container that runs the image: the one named `name`, default the first. */
export function containerOf(template: V1PodTemplateSpec | undefined, name: string | undefined): { container: V1Container; index: number } {
  const containers = template?.spec?.containers ?? [];
  const index = name ? containers.findIndex((c) => c.name === name) : 0;
  const container = containers[index];
  if (!container) {
    const known = containers.map((c) => c.name).join(', ') || '(none)';
    throw new InvalidTargetError(`the pod template has no container${name ? ` "${name}"` : ''}; its containers: ${known} (check platform.container)`);
  }
  return { container, index };
}

/** The version an image runs: its tag when it is an image of `repository`, else the whole reference. */
export function versionOf(image: string | undefined, repository: string): string {
  const prefix = `${repository}:`;
  if (!image) return '';
  return image.startsWith(prefix) ? image.slice(prefix.length) : image;
}

/**
 * The rollout of the Deployment's current revision. complete: the controller saw the latest spec and every
 * wanted replica is updated, ready and available, with no old one left. failed: the controller gave up on
 * it (Progressing False, ProgressDeadlineExceeded); it will not complete without a new change.
 */
export function rolloutOf(d: V1Deployment): RolloutStatus {
  const total = d.spec?.replicas ?? 1;
  const s = d.status ?? {};
  const updated = Math.min(s.updatedReplicas ?? 0, total);
  const base = { revision: revisionOf(d), updated, total };
  const counts = [s.updatedReplicas, s.readyReplicas, s.availableReplicas, s.replicas].map((n) => n ?? 0);
  if (observed(d) && counts.every((n) => n === total)) return { ...base, status: 'complete' };
  const progressing = s.conditions?.find((c) => c.type === 'Progressing');
  if (observed(d) && progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded') {
    return { ...base, status: 'failed', reason: progressing.reason, message: progressing.message ?? '' };
  }
  return { ...base, status: 'in-progress' };
}

/** Ready when every one of `replicas` runs the current template and is ready (scaled and settled). */
export function scaledTo(d: V1Deployment, replicas: number): boolean {
  const s = d.status ?? {};
  return observed(d) && (s.readyReplicas ?? 0) === replicas && (s.updatedReplicas ?? 0) === replicas && (s.replicas ?? 0) === replicas;
}

const shown = (v: unknown): string => JSON.stringify(v)?.slice(0, 140) ?? String(v);

/** A version to deploy: an image tag, and one of `available` when the configuration lists them. */
export function checkVersion(version: unknown, available: string[] | undefined): string {
  if (typeof version !== 'string' || !TAG_PATTERN.test(version)) {
    throw new UnsafeOperationError(
      `version ${shown(version)} is not an image tag (letters, digits, "_", "." and "-", at most 128, not starting with "." or "-"); give the tag only, e.g. v1.5.0`,
    );
  }
  if (available && !available.includes(version)) throw new UnsafeOperationError(`unknown version "${version}"; available: ${available.join(', ')}`);
  return version;
}

/** A request id: what makes a retried call a no-op. Printable, at most 256 characters. */
export function checkRequestId(requestId: unknown): string {
  if (typeof requestId !== 'string' || !/^[\x21-\x7e]{1,256}$/.test(requestId)) {
    throw new UnsafeOperationError(`requestId ${shown(requestId)} must be 1 to 256 printable characters without spaces`);
  }
  return requestId;
}

/** A replica count: scale to exactly this, so it must be a whole number in a sane range. */
export function checkReplicas(replicas: unknown): number {
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0 || replicas > 1000) {
    throw new UnsafeOperationError(`replicas ${shown(replicas)} must be a whole number from 0 to 1000`);
  }
  return replicas;
}

/** A revision to roll back to. */
export function checkRevision(revision: unknown): number | undefined {
  if (revision === undefined) return undefined;
  if (typeof revision !== 'number' || !Number.isInteger(revision) || revision < 1) {
    throw new UnsafeOperationError(`toRevision ${shown(revision)} must be a revision number (a whole number from 1)`);
  }
  return revision;
}
