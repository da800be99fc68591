// A config file may extend another ("extends", relative to it; merged as JSON Merge Patch, where an object of
// another `kind` replaces the base's), and the config the stack was started with is what every process loads
// unless RUNBOOK_CONFIG says otherwise.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, configFile, DEFAULT_CONFIG, loadConfig, mergeConfig, readConfigFile, readSelection, writeSelection } from '../../config/load';
import { choosePlatform } from '../../scripts/stack/platform';

const ROOT = path.resolve(__dirname, '..', '..');
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'config-extends-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(rel: string, value: unknown): string {
  const file = path.join(dir, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

describe('mergeConfig', () => {
  test('objects are merged key by key; arrays and scalars replace; null removes a key', () => {
    const base = { a: { x: 1, y: [1, 2], z: 'keep' }, b: 'old', c: { gone: true, stays: 1 } };
    const patch = { a: { x: 2, y: [3] }, b: 'new', c: { gone: null }, d: { e: null, f: 1 } };
    expect(mergeConfig(base, patch)).toEqual({ a: { x: 2, y: [3], z: 'keep' }, b: 'new', c: { stays: 1 }, d: { f: 1 } });
  });

  test('an object of another kind replaces the base object whole; one of the same kind is merged', () => {
    const base = { platform: { kind: 'local', adminUrl: 'http://127.0.0.1:1/admin', token: 't' } };
    expect(mergeConfig(base, { platform: { kind: 'kubernetes', namespace: 'ns' } })).toEqual({ platform: { kind: 'kubernetes', namespace: 'ns' } });
    expect(mergeConfig(base, { platform: { kind: 'local', token: 'u' } })).toEqual({
      platform: { kind: 'local', adminUrl: 'http://127.0.0.1:1/admin', token: 'u' },
    });
  });

  test('does not change its inputs', () => {
    const base = { a: { x: 1 } };
    const patch = { a: { x: 2 } };
    mergeConfig(base, patch);
    expect(base).toEqual({ a: { x: 1 } });
    expect(patch).toEqual({ a: { x: 2 } });
  });
});

describe('extends', () => {
  test('is relative to the file, and chains: each file changes what it extends', () => {
    write('base.json', { services: { s: { a: 1, b: 1 } }, list: [1] });
    write('mid/mid.json', { extends: '../base.json', services: { s: { b: 2 } } });
    const top = write('mid/deeper/top.json', { extends: '../mid.json', list: [2, 3] });
    expect(readConfigFile(top)).toEqual({ services: { s: { a: 1, b: 2 } }, list: [2, 3] });
  });

  test('a cycle is refused, naming the chain', () => {
    const a = write('a.json', { extends: 'b.json' });
    const b = write('b.json', { extends: 'a.json' });
    expect(() => readConfigFile(a)).toThrow(new ConfigError(`config ${a}: "extends" makes a cycle: ${a} -> ${b} -> ${a}`));
    const self = write('self.json', { extends: './self.json' });
    expect(() => readConfigFile(self)).toThrow(/"extends" makes a cycle/);
  });

  test('a missing base names itself and the file extending it; a bad value is refused with what it was', () => {
    const child = write('child.json', { extends: 'nowhere.json' });
    expect(() => readConfigFile(child)).toThrow(`cannot read config ${path.join(dir, 'nowhere.json')} (extended by ${child})`);
    const bad = write('bad.json', { extends: 7 });
    expect(() => readConfigFile(bad)).toThrow(
      `config ${bad}: "extends" must be the path of another config file, relative to this one (e.g. "local.json"), not 7`,
    );
    expect(() => readConfigFile(write('array.json', '[1]'))).toThrow('must be a JSON object');
  });
});

describe('config/kubernetes.json', () => {
  const secret = 'x'.repeat(32);
  const env = {
    ...Object.fromEntries(
      [
        ...['PG_PASSWORD', 'REDIS_PASSWORD', 'DEMO_ADMIN_TOKEN', 'API_TOKEN_BOB', 'API_TOKEN_ALICE', 'API_TOKEN_DAVE', 'API_TOKEN_ALERTMANAGER'],
        ...['PAGERDUTY_ROUTING_KEY', 'NOTIFY_HMAC_KEY', 'S3_ACCESS_KEY', 'S3_SECRET_KEY'],
      ].map((k) => [k, secret]),
    ),
    KUBECONFIG: '/tmp/kubeconfig',
  };

  test('holds only the differences: the reports service on Kubernetes, everything else as config/local.json', () => {
    const own = JSON.parse(readFileSync(path.join(ROOT, 'config', 'kubernetes.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(own).sort()).toEqual(['extends', 'services']);
    const k8s = loadConfig(path.join(ROOT, 'config', 'kubernetes.json'), env);
    const local = loadConfig(DEFAULT_CONFIG, env);
    expect(k8s.services.reports!.platform).toEqual({
      kind: 'kubernetes',
      kubeconfig: '/tmp/kubeconfig',
      inCluster: false,
      namespace: 'runbooks-demo',
      deployment: 'reports',
      image: 'registry.local/reports',
      versions: ['v1.4.2', 'v1.5.0', 'v1.5.1-slow', 'v1.5.0-broken'],
      workers: 'reports-worker',
      configMap: 'reports-config',
      maintenance: { service: 'reports', selector: { app: 'reports-maintenance' } },
      readyTimeout: expect.any(String),
    });
    const { platform: _p, description: _d, ...reports } = k8s.services.reports!;
    const { platform: _lp, description: _ld, ...localReports } = local.services.reports!;
    expect(reports).toEqual(localReports);
    expect({ ...k8s, services: {} }).toEqual({ ...local, services: {} });
  });

  test('needs KUBECONFIG from the environment, and says so', () => {
    const { KUBECONFIG: _k, ...without } = env;
    expect(() => loadConfig(path.join(ROOT, 'config', 'kubernetes.json'), without)).toThrow(
      'services.reports.platform.kubeconfig: environment variable KUBECONFIG is not set',
    );
  });
});

describe('the config the stack selected', () => {
  test('is what loads by default; RUNBOOK_CONFIG wins; without either it is config/local.json', () => {
    const env = { RUNBOOK_DATA_DIR: dir };
    expect(configFile(env)).toBe(DEFAULT_CONFIG);
    writeSelection({ platform: 'kubernetes', config: 'config/kubernetes.json' }, env);
    // Stored relative to the project, so a moved checkout still finds it.
    expect(JSON.parse(readFileSync(path.join(dir, 'selected-config.json'), 'utf8'))).toEqual({ platform: 'kubernetes', config: 'config/kubernetes.json' });
    expect(readSelection(env)).toEqual({ platform: 'kubernetes', config: 'config/kubernetes.json' });
    expect(configFile(env)).toBe(path.join(ROOT, 'config', 'kubernetes.json'));
    expect(configFile({ ...env, RUNBOOK_CONFIG: 'config/local.json' })).toBe(path.resolve('config/local.json'));
    writeSelection({ platform: 'local', config: DEFAULT_CONFIG }, env);
    expect(configFile(env)).toBe(DEFAULT_CONFIG);
  });

  test('a damaged selection file is an error that says how to fix it', () => {
    writeFileSync(path.join(dir, 'selected-config.json'), '{"platform": 1}');
    expect(() => configFile({ RUNBOOK_DATA_DIR: dir })).toThrow(
      /selected-config\.json must be \{"platform": "\.\.\.", "config": "<file>"\}; start the stack again/,
    );
  });
});

describe('choosePlatform', () => {
  test('--platform, else RUNBOOK_PLATFORM, else local', () => {
    expect(choosePlatform(undefined, {})).toBe('local');
    expect(choosePlatform(undefined, { RUNBOOK_PLATFORM: 'kubernetes' })).toBe('kubernetes');
    expect(choosePlatform('local', { RUNBOOK_PLATFORM: 'kubernetes' })).toBe('local');
  });

  test('an unknown platform is refused, naming where it came from and the choices', () => {
    expect(() => choosePlatform('k8s', {})).toThrow('--platform "k8s" is not a platform of the local stack; choose one of: local, kubernetes');
    expect(() => choosePlatform(undefined, { RUNBOOK_PLATFORM: 'nomad' })).toThrow(
      'RUNBOOK_PLATFORM "nomad" is not a platform of the local stack; choose one of: local, kubernetes',
    );
    expect(() => choosePlatform('constructor', {})).toThrow(/not a platform/);
  });
});
