import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { buildBusyboxImage } from '../../test/support/busybox-image.ts';
import { requireCommand, requireRoot } from '../../test/support/requirements.ts';
import { jsonLogger } from '../core/log.ts';
import { Identity } from '../identity/index.ts';
import { detectCgroupLayout, oomKills } from './cgroup-layout.ts';
import { ContainerRuntime } from './container-runtime.ts';
import type { Workload } from './deployment-document.ts';
import { ImageCache } from './image-cache.ts';
import { openSecret, sealSecret } from './secret-seal.ts';

/*
 * The container runtime against the real crun, on this host's cgroup layout (hybrid on the
 * CI machine): a busybox image served over HTTP on loopback, confinement read from inside
 * the container, OOM kill, stop and resume, removal leaving nothing behind.
 */

const TWIN = 7;

async function setup(t: import('node:test').TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'vdc-crun-'));
  chmodSync(dir, 0o711); // containers' user namespaces walk down to their rootfs
  const image = buildBusyboxImage(dir);
  const server = createServer((_req, res) => res.end(readFileSync(image.path)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/busybox.tar.gz`;
  const node = Identity.fromSeed(randomBytes(64));
  const layout = detectCgroupLayout()!;
  const tag = randomBytes(6).toString('hex');
  const runtime = new ContainerRuntime({
    data: join(dir, 'data'),
    images: new ImageCache(join(dir, 'data', 'images')),
    layout,
    nodeTag: tag,
    logger: jsonLogger(() => {}),
    openSecret: (sealed, context) => openSecret(sealed, node, context),
    monitorMs: 60_000,
  });
  const crun = (...args: string[]) =>
    execFileSync('crun', ['--root', join(dir, 'data', 'crun'), ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  t.after(async () => {
    runtime.close();
    for (const id of crun('list', '--quiet').split('\n').filter(Boolean))
      await runtime.remove(Number(id.slice(1, id.indexOf('-'))), id.slice(id.indexOf('-') + 1));
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const container = (name: string, script: string, extra: Partial<Workload['spec']> = {}) =>
    ({
      name,
      kind: 'container',
      spec: {
        image: { url, sha256: image.sha256 },
        resources: { cpu: 500, memory: 32 * 2 ** 20 },
        entrypoint: ['/bin/sh', '-c', script],
        ...extra,
      },
    }) as Workload;
  const waitState = async (contract: number, name: string, state: string) => {
    for (let i = 0; i < 300; i++) {
      await runtime.poll();
      if (runtime.status(contract, name)?.state === state) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(
      `${name} never reached ${state}: ${JSON.stringify(runtime.status(contract, name))}`,
    );
  };
  const waitLog = async (contract: number, name: string, text: string) => {
    for (let i = 0; i < 300; i++) {
      if (runtime.logs(contract, name, 65_536).includes(text))
        return runtime.logs(contract, name, 65_536);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`${name} never printed ${text}: ${runtime.logs(contract, name, 4096)}`);
  };
  return { dir, runtime, container, crun, node, layout, tag, waitState, waitLog };
}

describe('container runtime (crun)', () => {
  test('runs a confined container: own uid range, no new privileges, seccomp, no namespaces inside', async (t) => {
    if (!requireRoot(t) || !requireCommand(t, 'crun') || !requireCommand(t, 'busybox')) return;
    const s = await setup(t);
    const script = [
      'echo "greeting=$GREETING token=$TOKEN"',
      'cat /proc/self/uid_map',
      'grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status',
      'unshare -U true 2>/dev/null; echo "unshare=$?"',
      'ls /sys/class/net',
      'echo done; sleep 1000',
    ].join('; ');
    const token = sealSecret('s3cr3t', s.node.encryptionPublicKey, {
      twin: TWIN,
      workload: 'web',
      name: 'TOKEN',
    });
    await s.runtime.apply(
      1,
      s.container('web', script, { env: { GREETING: 'hi' }, secrets: { TOKEN: token } }),
      { twin: TWIN },
    );
    const log = await s.waitLog(1, 'web', 'done');
    assert.match(log, /greeting=hi token=s3cr3t/);
    assert.match(log, /^\s+0\s+1000000\s+65536$/m, 'container root is host uid 1000000 onwards');
    assert.match(log, /NoNewPrivs:\s+1/);
    assert.match(log, /Seccomp:\s+2/);
    assert.match(log, /unshare=1/, 'no user namespace inside the container');
    assert.match(log, /^lo$/m, 'its own network namespace: loopback only');
    await s.waitState(1, 'web', 'ok');
    // the rootfs belongs to the container's range, not to host root
    const bundle = join(s.dir, 'data', 'containers', 'c1-web');
    assert.equal(
      execFileSync('stat', ['-c', '%u', join(bundle, 'rootfs', 'bin', 'busybox')], {
        encoding: 'utf8',
      }).trim(),
      '1000000',
    );
    assert.equal(execFileSync('stat', ['-c', '%a', bundle], { encoding: 'utf8' }).trim(), '711');
    assert.equal(
      execFileSync('stat', ['-c', '%a', join(bundle, 'config.json')], { encoding: 'utf8' }).trim(),
      '600',
    );
  });

  test('a container past its memory limit is OOM-killed and reported so', async (t) => {
    if (!requireRoot(t) || !requireCommand(t, 'crun') || !requireCommand(t, 'busybox')) return;
    const s = await setup(t);
    const hog = 'echo start; x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived';
    await s.runtime.apply(2, s.container('hog', hog), { twin: TWIN });
    await s.waitState(2, 'hog', 'oom-killed');
    assert.match(s.runtime.status(2, 'hog')!.message, /OOM killer/);
    assert.doesNotMatch(s.runtime.logs(2, 'hog', 4096), /survived/);
  });

  test('stop keeps the files, apply resumes, the same spec twice is left alone, remove leaves nothing', async (t) => {
    if (!requireRoot(t) || !requireCommand(t, 'crun') || !requireCommand(t, 'busybox')) return;
    const s = await setup(t);
    const w = s.container('svc', 'echo up >> /data.txt; cat /data.txt; sleep 1000');
    await s.runtime.apply(3, w, { twin: TWIN });
    await s.waitLog(3, 'svc', 'up');
    const pid = JSON.parse(s.crun('state', 'c3-svc')).pid as number;
    await s.runtime.apply(3, w, { twin: TWIN });
    assert.equal(
      JSON.parse(s.crun('state', 'c3-svc')).pid,
      pid,
      'the running container was left alone',
    );
    await s.runtime.stop(3, 'svc');
    assert.throws(() => s.crun('state', 'c3-svc'));
    await s.runtime.apply(3, w, { twin: TWIN });
    const log = await s.waitLog(3, 'svc', 'up\nup');
    assert.match(log, /up\nup/, 'resumed on its own files');
    await s.runtime.remove(3, 'svc');
    assert.throws(() => s.crun('state', 'c3-svc'));
    assert.deepEqual(readdirSync(join(s.dir, 'data', 'containers')), []);
    assert.equal(oomKills(s.layout, `/vdc/${s.tag}/c3-svc`), undefined, 'its cgroup is gone');
  });

  test('a start that fails leaves no bundle behind and says why', async (t) => {
    if (!requireRoot(t) || !requireCommand(t, 'crun') || !requireCommand(t, 'busybox')) return;
    const s = await setup(t);
    const w = s.container('bad', 'true');
    (w.spec as Record<string, unknown>)['entrypoint'] = ['/no/such/program'];
    await assert.rejects(
      s.runtime.apply(4, w, { twin: TWIN }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'CONTAINER_START_FAILED');
        return true;
      },
    );
    assert.ok(!existsSync(join(s.dir, 'data', 'containers', 'c4-bad')));
  });
});
