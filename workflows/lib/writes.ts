// Stopping a service's writes through the platform port, and putting it back as it was: used by runbooks
// that replace or rebuild its data (restore, disaster recovery).
import { platform } from './proxies';

export interface WritesBefore {
  replicas: number;
  maintenance: boolean;
}

/** Maintenance mode on, processors to 0; returns how it was, to put back. */
export async function stopWrites(service: string): Promise<{ before: WritesBefore; detail: string }> {
  const s = await platform.platformState({ service });
  await platform.setMaintenanceMode({ service, enabled: true });
  await platform.scaleWorkers({ service, replicas: 0 });
  return { before: { replicas: s.replicas, maintenance: s.maintenance }, detail: `processors ${s.replicas} -> 0; maintenance mode on` };
}

/** Processors and maintenance mode as they were before stopWrites. */
export async function resumeWritesAsBefore(service: string, b: WritesBefore): Promise<string> {
  await platform.setMaintenanceMode({ service, enabled: b.maintenance });
  await platform.scaleWorkers({ service, replicas: b.replicas });
  return `processors back to ${b.replicas}; maintenance mode ${b.maintenance ? 'left on (as before)' : 'off'}`;
}
