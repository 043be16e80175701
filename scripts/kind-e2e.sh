#!/usr/bin/env bash
# End-to-end check in a kind cluster, for machines with Docker (it cannot run where the tests run).
# Its steps mirror test/integration/chart-install.test.ts (dry run, Pod Security "restricted",
# helm install, what the operator's ServiceAccount may and may not do) and then run the real
# operator image on an example policy and check the result with `kubectl auth can-i --as`.
#
#   scripts/kind-e2e.sh            # create cluster, build + load image, install, check, keep cluster
#   KEEP_CLUSTER=0 scripts/kind-e2e.sh   # delete the cluster at the end
#   LOCAL_CLUSTER=1 scripts/kind-e2e.sh  # use the current kubeconfig's cluster, skip everything that
#                                        # needs Docker or a kubelet (the test suite runs it this way)
#
# Needs: docker, kind, kubectl, helm (v3.8+ or v4); with LOCAL_CLUSTER=1 only kubectl and helm.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${CLUSTER:-impop-e2e}
NODE_IMAGE=${NODE_IMAGE:-kindest/node:v1.33.1}
IMAGE=${IMAGE:-impersonation-operator:e2e}
NS=${NS:-impersonation-operator}
RELEASE=${RELEASE:-impersonation-operator}
LOCAL_CLUSTER=${LOCAL_CLUSTER:-0}
SA="system:serviceaccount:${NS}:${RELEASE}"
KEEP_CLUSTER=${KEEP_CLUSTER:-1}

OUT=$(mktemp)
step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
# RBAC and admission policies take effect a moment after they are written: retry for up to 30s.
expect_refused() { # description, command...
  local what=$1; shift
  for _ in $(seq 30); do
    if ! "$@" >"$OUT" 2>&1 && grep -qi 'forbidden\|denied' "$OUT"; then
      echo "ok: refused: $what"
      return 0
    fi
    sleep 1
  done
  cat "$OUT"
  fail "$what was not refused"
}
expect_can_i() { # yes|no, can-i args...
  local want=$1; shift
  local got=''
  for _ in $(seq 30); do
    got=$(kubectl auth can-i "$@" 2>/dev/null || true)
    if [ "$got" = "$want" ]; then
      echo "ok: can-i $* -> $got"
      return 0
    fi
    sleep 1
  done
  fail "kubectl auth can-i $* -> $got, want $want"
}

needed=(kubectl helm)
[ "$LOCAL_CLUSTER" = 1 ] || needed+=(docker kind)
for cmd in "${needed[@]}"; do
  command -v "$cmd" >/dev/null || fail "$cmd is required"
done

if [ "$LOCAL_CLUSTER" = 1 ]; then
  step "using the current cluster: $(kubectl config current-context 2>/dev/null || echo "${KUBECONFIG:-}")"
else
  step "kind cluster $CLUSTER ($NODE_IMAGE)"
  kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --image "$NODE_IMAGE" --wait 120s
  kubectl config use-context "kind-$CLUSTER"
  [ "$KEEP_CLUSTER" = 1 ] || trap 'kind delete cluster --name "$CLUSTER"' EXIT

  step "build and load the image $IMAGE"
  docker build -t "$IMAGE" --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" .
  kind load docker-image "$IMAGE" --name "$CLUSTER"
fi

# What the access-proxy example needs the operator to be able to grant.
VALUES=$(mktemp)
cat >"$VALUES" <<EOF
fullnameOverride: ${RELEASE}
image:
  repository: ${IMAGE%%:*}
  tag: ${IMAGE##*:}
  pullPolicy: Never
grants:
  impersonate:
    users: [alice@example.com, bob@example.com]
    groups: [system:authenticated, sre-on-call, developers]
  bindableClusterRoles: [view, edit]
EOF

step "namespace $NS enforcing Pod Security restricted"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace "$NS" pod-security.kubernetes.io/enforce=restricted --overwrite

step "server-side dry run of the rendered chart (CRD included)"
helm template "$RELEASE" charts/impersonation-operator -n "$NS" -f "$VALUES" --include-crds |
  kubectl apply --server-side --dry-run=server -f -

step "helm install"
helm upgrade --install "$RELEASE" charts/impersonation-operator -n "$NS" -f "$VALUES"
if [ "$LOCAL_CLUSTER" != 1 ]; then
  kubectl -n "$NS" rollout status "deployment/$RELEASE" --timeout=180s
  kubectl -n "$NS" get pods,lease
fi

step "what the operator's ServiceAccount may do (waits until its RBAC is in force)"
expect_can_i yes impersonate users/alice@example.com --as="$SA"
expect_can_i no impersonate users/mallory@example.com --as="$SA"
expect_can_i yes bind clusterroles/view --as="$SA"

step "what it may not do"
expect_can_i no get secrets -A --as="$SA"
expect_can_i no bind clusterroles/cluster-admin --as="$SA"
expect_refused "updating system:basic-user" \
  kubectl --as="$SA" annotate clusterrole system:basic-user touched=yes --dry-run=server
expect_refused "binding cluster-admin" \
  kubectl --as="$SA" create clusterrolebinding "impop-e2e-ca" --clusterrole=cluster-admin --group=sre-on-call --dry-run=server
expect_refused "reading Secrets" kubectl --as="$SA" get secrets -A

if [ "$LOCAL_CLUSTER" = 1 ]; then
  step "done: chart and identity steps passed (the operator itself needs a kubelet: run without LOCAL_CLUSTER)"
  exit 0
fi

step "apply the access-proxy example and wait for Ready"
kubectl apply -f manifests/examples/00-prerequisites.yaml
kubectl apply -f manifests/examples/access-proxy.yaml
kubectl wait --for=condition=Ready impersonationpolicy/access-proxy --timeout=120s
kubectl get impersonationpolicy access-proxy -o jsonpath='{.status.conditions}{"\n"}'

step "the generated RBAC does what the policy says"
expect_can_i yes impersonate users/alice@example.com --as=proxy
expect_can_i yes impersonate groups/sre-on-call --as=proxy
expect_can_i no impersonate users/mallory@example.com --as=proxy
expect_can_i yes list pods -A --as=alice@example.com --as-group=sre-on-call
expect_can_i no delete pods -A --as=alice@example.com --as-group=sre-on-call
expect_can_i yes create deployments -n team-a --as=bob@example.com --as-group=developers
expect_can_i no create deployments -n default --as=bob@example.com --as-group=developers

step "done: kind-e2e passed"
