/**
 * Runs Flagger (or flagger-loadtester) inside a network namespace of its own, so that its HTTP
 * server, which binds every interface (`-port` takes no address), is reachable from nowhere but
 * this bridge.
 *
 * Started by the cluster's owner as `unshare --net -- node --import tsx netns-bridge.ts <json>`:
 * unshare makes an anonymous namespace that the kernel frees when its last process exits, so
 * nothing named is left behind, not even after kill -9 (the bridge dies with its owner, the program
 * with the bridge, both by the parent-death signal). Inside, the bridge brings the namespace's
 * loopback up, listens on its 127.0.0.1 at the ports of the host it needs (the apiserver's,
 * Prometheus's, the service proxy's) and pipes each connection to a Unix socket file that the
 * owner forwards to the real port on the host; and it forwards a socket file to the program's port
 * (the readiness probe, the webhook calls). Then it runs the program as its child and exits with
 * it. Its first stdout line is `bridged pid <n>`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { BRIDGED_PID_LINE, type BridgeConfig } from './components.ts';
import { forward, type Forward } from './socket-forward.ts';

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as BridgeConfig;
  // A new network namespace starts with its loopback down and no address on it.
  execFileSync('ip', ['link', 'set', 'lo', 'up'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const forwards: Forward[] = [];
  for (const f of config.toHost) forwards.push(await forward({ port: f.port }, { socket: f.socket }));
  for (const f of config.fromHost) forwards.push(await forward({ socket: f.socket }, { port: f.port }));
  const [command, ...args] = config.command;
  const child = spawn(command!, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  process.stdout.write(`${BRIDGED_PID_LINE}${child.pid}\n`);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
  child.once('error', (err) => {
    process.stderr.write(`netns bridge: cannot start ${command}: ${err.message}\n`);
    process.exit(1);
  });
  child.once('exit', (code, signal) => {
    void Promise.all(forwards.map((f) => f.close())).finally(() => process.exit(code ?? (signal ? 1 : 0)));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`netns bridge: ${(err as Error).message}\n`);
  process.exit(1);
});
