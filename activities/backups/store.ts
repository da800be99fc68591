// The backup store the configuration names: a directory (default) or an S3-compatible bucket
// (backups.store), so activities never know which one they write to.
import type { Config } from '../../config/schema';
import type { BackupStore } from './contract';
import { createFsStore } from './store-fs';
import { createS3Store } from './store-s3';

// One S3 client (and its connection pool) per configured store, not one per activity call.
const s3Stores = new WeakMap<object, BackupStore>();

export function createBackupStore(config: Config['backups']): BackupStore {
  const store = config.store ?? { kind: 'fs' };
  if (store.kind === 's3') {
    let s3 = s3Stores.get(store);
    if (!s3) s3Stores.set(store, (s3 = createS3Store(store)));
    return s3;
  }
  return createFsStore(store.dir ?? config.dir);
}
