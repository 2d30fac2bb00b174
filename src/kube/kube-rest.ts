import https from 'node:https';
import http from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { PlatformError } from '../common/errors.ts';

/**
 * Plain JSON over the Kubernetes REST API with the kubeconfig's credentials. The typed clients of
 * @kubernetes/client-node re-serialise bodies through their model classes, which drops fields they
 * do not model (a CRD's `x-kubernetes-int-or-string`, any custom resource's spec), so custom
 * resources and CRDs go through here unchanged.
 */
export class KubeApiError extends PlatformError {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** e.g. /apis/flagger.app/v1beta1/namespaces/test/canaries/podinfo */
  path: string;
  body?: unknown;
  /** For PATCH: merge (default), json or strategic. */
  patch?: 'merge' | 'json' | 'strategic';
  timeoutMs?: number;
}

const PATCH_TYPES = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
} as const;

export async function kubeRequest<T = unknown>(kc: KubeConfig, request: KubeRequest): Promise<T> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new PlatformError('kubeconfig has no current cluster');
  const url = new URL(cluster.server + request.path);
  const options: https.RequestOptions = {
    method: request.method,
    headers: { accept: 'application/json' },
    timeout: request.timeoutMs ?? 30_000,
  };
  await kc.applyToHTTPSOptions(options);
  const payload = request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body));
  if (payload) {
    options.headers = {
      ...options.headers,
      'content-type': request.method === 'PATCH' ? PATCH_TYPES[request.patch ?? 'merge'] : 'application/json',
      'content-length': payload.length,
    };
  }
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<T>((resolve, reject) => {
    const req = client.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          try {
            resolve((text ? JSON.parse(text) : undefined) as T);
          } catch (err) {
            reject(
              new PlatformError(`${request.method} ${request.path}: answer is not JSON: ${(err as Error).message}`),
            );
          }
          return;
        }
        let message = text.slice(0, 500);
        try {
          message = (JSON.parse(text) as { message?: string }).message ?? message;
        } catch {
          // not a Status object
        }
        reject(new KubeApiError(status, `${request.method} ${request.path}: ${status} ${message}`));
      });
    });
    req.once('timeout', () =>
      req.destroy(
        new PlatformError(
          `${request.method} ${request.path}: no answer within ${(request.timeoutMs ?? 30_000) / 1000} s`,
        ),
      ),
    );
    req.once('error', reject);
    req.end(payload);
  });
}

/** Collection path of a resource: core ('v1') or grouped ('apps/v1'), namespaced or not. */
export function resourcePath(apiVersion: string, plural: string, namespace?: string, name?: string): string {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return `${base}${namespace ? `/namespaces/${namespace}` : ''}/${plural}${name ? `/${name}` : ''}`;
}
