// All activities, grouped by the system they touch; each group is a factory taking the worker's shared
// connections. Workflows import only the type: `import type { Activities } from '../activities'`.
import { createAuditActivities } from './audit';
import { createBackupActivities } from './backup-store/pg-dump';
import { createConnectivityActivities } from './connectivity';
import type { Deps } from './deps';
import { createHealthActivities } from './http/health';
import { createMaintenanceTaskActivities } from './maintenance/run-task';
import { createNotifyActivities } from './notify';
import { createPlatformActivities } from './platform';
import { createQueueActivities } from './redis/queue';
import { createTargetActivities } from './targets';

export function createActivities(deps: Deps) {
  return {
    ...createTargetActivities(deps),
    ...createConnectivityActivities(deps),
    ...createHealthActivities(deps),
    ...createNotifyActivities(deps),
    ...createAuditActivities(deps),
    ...createBackupActivities(deps),
    ...createPlatformActivities(deps),
    ...createQueueActivities(deps),
    ...createMaintenanceTaskActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { Deps } from './deps';
export { createDeps } from './deps';
