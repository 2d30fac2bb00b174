#!/usr/bin/env bash
# Smoke test of the cached tools: starts etcd + kube-apiserver (+ controller-manager + scheduler)
# on loopback with free ports and a temp dir, checks /readyz with a bearer token, that a namespace
# can be written and that the controller-manager creates the default ServiceAccount, then stops
# everything and checks that no process is left.  Usage: bash scripts/tools/smoke-control-plane.sh
# Set KEEP=1 to keep the temp dir (logs) afterwards.
set -euo pipefail

DIR=${CANARY_MTTR_TOOLS_DIR:-$HOME/.cache/canary-mttr/tools}
BIN=$DIR/bin
for b in etcd kube-apiserver kube-controller-manager kube-scheduler; do
  [[ -x $BIN/$b ]] || { echo "smoke: $BIN/$b missing: run bash scripts/tools/install.sh" >&2; exit 1; }
done

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/canary-mttr-smoke.XXXXXX")
PIDS=()
cleanup() {
  local rc=$? p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then echo "smoke: process $p still running" >&2; rc=1; fi
  done
  if [[ ${KEEP:-0} == 1 ]]; then echo "smoke: logs kept in $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # description, seconds, command...
  local what=$1 secs=$2; shift 2
  for _ in $(seq $((secs * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "smoke: timed out waiting for $what" >&2; return 1
}

ETCD_CLIENT=$(free_port); ETCD_PEER=$(free_port); API_PORT=$(free_port); KCM_PORT=$(free_port); SCHED_PORT=$(free_port)
TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
mkdir -p "$TMP/certs"; mkdir -m 0700 "$TMP/etcd"
echo "$TOKEN,canary-admin,canary-admin,system:masters" >"$TMP/tokens.csv"
openssl genrsa -out "$TMP/sa.key" 2048 2>/dev/null
cat >"$TMP/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://127.0.0.1:$API_PORT", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: "$TOKEN"}
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
EOF

t0=$(date +%s%3N)
set -x
"$BIN/etcd" --name=smoke --data-dir="$TMP/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_CLIENT" --advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER" \
  --initial-cluster="smoke=http://127.0.0.1:$ETCD_PEER" --unsafe-no-fsync --log-level=warn \
  >"$TMP/etcd.log" 2>&1 &
{ set +x; } 2>/dev/null
PIDS+=($!)
wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_CLIENT/health"

set -x
"$BIN/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$ETCD_CLIENT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
  --endpoint-reconciler-type=none \
  --cert-dir="$TMP/certs" \
  --token-auth-file="$TMP/tokens.csv" --authorization-mode=RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$TMP/sa.key" --service-account-signing-key-file="$TMP/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 --allow-privileged=true \
  >"$TMP/kube-apiserver.log" 2>&1 &
{ set +x; } 2>/dev/null
PIDS+=($!)
readyz() { [[ $(curl -ks -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$API_PORT/readyz") == ok ]]; }
wait_for kube-apiserver/readyz 90 readyz || { tail -20 "$TMP/kube-apiserver.log" >&2; exit 1; }
echo "smoke: kube-apiserver /readyz ok after $(( $(date +%s%3N) - t0 )) ms"

set -x
"$BIN/kube-controller-manager" --kubeconfig="$TMP/kubeconfig" \
  --authentication-kubeconfig="$TMP/kubeconfig" --authorization-kubeconfig="$TMP/kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --leader-elect=false \
  --service-account-private-key-file="$TMP/sa.key" --root-ca-file="$TMP/certs/apiserver.crt" \
  >"$TMP/kube-controller-manager.log" 2>&1 &
{ set +x; } 2>/dev/null
PIDS+=($!)
set -x
"$BIN/kube-scheduler" --kubeconfig="$TMP/kubeconfig" \
  --authentication-kubeconfig="$TMP/kubeconfig" --authorization-kubeconfig="$TMP/kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --leader-elect=false \
  >"$TMP/kube-scheduler.log" 2>&1 &
{ set +x; } 2>/dev/null
PIDS+=($!)

api() { curl -ksf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
api -X POST "https://127.0.0.1:$API_PORT/api/v1/namespaces" -d '{"metadata":{"name":"smoke"}}' >/dev/null
echo "smoke: created namespace smoke"
wait_for kube-controller-manager/healthz 60 curl -ksf "https://127.0.0.1:$KCM_PORT/healthz" ||
  { tail -20 "$TMP/kube-controller-manager.log" >&2; exit 1; }
wait_for kube-scheduler/healthz 60 curl -ksf "https://127.0.0.1:$SCHED_PORT/healthz" ||
  { tail -20 "$TMP/kube-scheduler.log" >&2; exit 1; }
wait_for "ServiceAccount smoke/default (controller-manager)" 60 \
  api "https://127.0.0.1:$API_PORT/api/v1/namespaces/smoke/serviceaccounts/default" ||
  { tail -20 "$TMP/kube-controller-manager.log" >&2; exit 1; }
echo "smoke: controller-manager and scheduler healthy, default ServiceAccount created"
echo "smoke: ok ($(( $(date +%s%3N) - t0 )) ms)"
