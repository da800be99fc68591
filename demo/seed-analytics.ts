// Users and their tasks for the per-user analytics cache (seed 002 "Cache Warming"): 1000 users, a third of
// them active within the last 7 days, 8 tasks each, generated deterministically. Small on purpose: other
// suites back these tables up. Created once (when empty).
import type { PoolClient } from 'pg';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS app_users (
  id             bigint PRIMARY KEY,
  email          text NOT NULL,
  last_active_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS app_users_last_active_at ON app_users (last_active_at);
CREATE TABLE IF NOT EXISTS user_tasks (
  id           bigserial PRIMARY KEY,
  user_id      bigint NOT NULL REFERENCES app_users(id),
  status       text NOT NULL CHECK (status IN ('todo', 'in_progress', 'done', 'cancelled')),
  priority     text NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
  created_at   timestamptz NOT NULL,
  completed_at timestamptz
);
CREATE INDEX IF NOT EXISTS user_tasks_user_id ON user_tasks (user_id);
`;

export const ANALYTICS_SEED = { users: 1000, tasksPerUser: 8 } as const;

/** Runs in seedPostgres's transaction, under its lock. */
export async function seedPostgresAnalytics(c: PoolClient): Promise<void> {
  await c.query(SCHEMA);
  const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM app_users');
  if (Number(rows[0]!.n) > 0) return;
  // Every third user was active within the last 6.5 days (well inside the 7-day threshold); the others 8 to
  // 60 days ago. Times are on the half hour, so none sits on a threshold a test could see it cross.
  await c.query(
    `INSERT INTO app_users (id, email, last_active_at)
     SELECT u, 'user' || u || '@example.com',
            CASE WHEN u % 3 = 0 THEN now() - ((u % 156) || ' hours')::interval - interval '30 minutes'
                 ELSE now() - ((8 + u % 53) || ' days')::interval - interval '30 minutes' END
     FROM generate_series(1, $1::int) u`,
    [ANALYTICS_SEED.users],
  );
  await c.query(
    `INSERT INTO user_tasks (user_id, status, priority, created_at, completed_at)
     SELECT u, s.status, (ARRAY['low','medium','high','urgent'])[1 + (u + g * 7) % 4], s.created,
            CASE WHEN s.status = 'done' THEN least(s.created + (((u + g) % 72) || ' hours')::interval, now() - interval '30 minutes') END
     FROM generate_series(1, $1::int) u, generate_series(1, $2::int) g,
          LATERAL (SELECT (ARRAY['todo','in_progress','done','done','cancelled'])[1 + (u * 3 + g) % 5] AS status,
                          now() - (((u * 13 + g * 29) % 720) || ' hours')::interval - interval '30 minutes' AS created) s`,
    [ANALYTICS_SEED.users, ANALYTICS_SEED.tasksPerUser],
  );
}
