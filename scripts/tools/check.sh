#!/usr/bin/env bash
# Prints the version of every tool in the tools cache (scripts/tools/install.sh), or 'missing'.
# Exits non-zero when a tool is missing or not at its pinned version (scripts/tools/versions.env).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$HERE/versions.env"
DIR=${CANARY_MTTR_TOOLS_DIR:-$HOME/.cache/canary-mttr/tools}
BIN=$DIR/bin
CRDS=$DIR/crds
bad=0

# row NAME PINNED ACTUAL_OR_EMPTY [EXPECTED_SUBSTRING]
row() {
  local name=$1 pinned=$2 actual=$3 expect=${4:-} status=ok
  if [[ -z $actual ]]; then status=MISSING; actual=missing; bad=1
  elif [[ -n $expect && $actual != *"$expect"* ]]; then status=STALE; bad=1
  fi
  printf '%-24s %-8s %-10s %s\n' "$name" "$status" "$pinned" "$actual"
}

# First output line of a binary's version command, or empty when it is absent or fails.
ver() {
  local bin=$BIN/$1; shift
  [[ -x $bin ]] || return 0
  timeout 20 "$bin" "$@" 2>&1 | grep -v '^\s*$' | head -1
}

crd_names() { # file: names of the CustomResourceDefinitions in it
  [[ -f $1 ]] || return 0
  awk '/^kind: CustomResourceDefinition/ {c=1} /^---/ {c=0} c && /^  name:/ {print $2}' "$1" | sort | tr '\n' ' '
}

printf '%-24s %-8s %-10s %s\n' TOOL STATUS PINNED VERSION
row kube-apiserver "$KUBERNETES_VERSION" "$(ver kube-apiserver --version)" "$KUBERNETES_VERSION"
row kube-controller-manager "$KUBERNETES_VERSION" "$(ver kube-controller-manager --version)" "$KUBERNETES_VERSION"
row kube-scheduler "$KUBERNETES_VERSION" "$(ver kube-scheduler --version)" "$KUBERNETES_VERSION"
etcd_expect=${ETCD_VERSION#v}
[[ -L $BIN/etcd ]] && etcd_expect="etcd Version: "   # Debian's etcd-server (>= ETCD_MIN_VERSION)
row etcd "$ETCD_VERSION" "$(ver etcd --version)" "$etcd_expect"
row kwok "$KWOK_VERSION" "$(ver kwok --version)" "${KWOK_VERSION#v}"
row flagger "$FLAGGER_VERSION" "$(ver flagger -version)" "${FLAGGER_VERSION#v}"
# The loadtester has no version flag (its VERSION, 0.38.0, is a constant of cmd/loadtester): the stamp says
# which Flagger module it was built from.
lt=""
[[ -x $BIN/flagger-loadtester && -f $DIR/stamps/flagger-loadtester ]] && lt=$(cat "$DIR/stamps/flagger-loadtester")
row flagger-loadtester "$FLAGGER_VERSION" "$lt" "$FLAGGER_VERSION"
row k6 "$K6_VERSION" "$(ver k6 version)" "$K6_VERSION"
row helm "$HELM_VERSION" "$(ver helm version --short)" "$HELM_VERSION"
row prometheus debian "$(ver prometheus --version)"
wrk_v=$(ver wrk -v); [[ $wrk_v == wrk* ]] || wrk_v=""
row wrk debian "$wrk_v"
row flagger-crd.yaml "$FLAGGER_VERSION" "$(crd_names "$CRDS/flagger-crd.yaml")" "canaries.flagger.app"
istio=$(crd_names "$CRDS/istio-crds.yaml")
[[ $istio == *virtualservices.networking.istio.io* ]] || istio=""
row istio-crds.yaml "$ISTIO_API_VERSION" "$istio" "destinationrules.networking.istio.io"
stages=""
[[ -f $DIR/kwok/stages.yaml ]] && stages="$(grep -c '^kind: Stage' "$DIR/kwok/stages.yaml") stages"
row kwok/stages.yaml "$KWOK_VERSION" "$stages" "5 stages"
if [[ -f $DIR/tools.env ]]; then echo "env: $DIR/tools.env"; else echo "env: $DIR/tools.env missing"; bad=1; fi

if [[ $bad -ne 0 ]]; then
  echo "some tools are missing or stale: run 'npm run tools:install' (bash scripts/tools/install.sh)" >&2
  exit 1
fi
