#!/usr/bin/env bash
# Offline checks of deploy/kubernetes: nothing here talks to a cluster, and nothing is applied.
#  1. every kustomization's `resources:` exist (a check that needs no kustomize);
#  2. every Kubernetes object under deploy/kubernetes against the API schemas of one Kubernetes
#     release, strictly (unknown fields fail): kubernetes-validate;
#  3. where kubectl is installed, each overlay rendered (`kubectl kustomize`, offline) and checked again;
#  4. security and reliability policy: checkov's Kubernetes checks, with the skips below.
# The tools live in .venv-deploy/, installed once per pinned version pair and reused after.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VALIDATE_VERSION=1.31.0
CHECKOV_VERSION=3.2.500
KUBERNETES_VERSION=1.31.0 # the newest schema kubernetes-validate 1.31.0 ships
MANIFESTS=deploy/kubernetes
VENV=.venv-deploy
STAMP="$VENV/.installed-$KUBERNETES_VALIDATE_VERSION-$CHECKOV_VERSION"

if [ ! -f "$STAMP" ]; then
  echo "== installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and checkov $CHECKOV_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "checkov==$CHECKOV_VERSION"
  touch "$STAMP"
fi

failed=0

echo "== kustomizations: resources exist; Kubernetes objects to validate"
# Prints the files holding Kubernetes objects (every YAML file but the kustomizations) on stdout,
# problems on stderr, and exits 1 on a problem.
objects=$("$VENV/bin/python" - "$MANIFESTS" <<'EOF'
import pathlib, sys, yaml

root = pathlib.Path(sys.argv[1])
problems, objects = [], []
for path in sorted(root.rglob("*.y*ml")):
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    if path.name in ("kustomization.yaml", "kustomization.yml"):
        for doc in docs:
            for entry in doc.get("resources", []):
                target = path.parent / entry
                if not (target.is_file() or (target / "kustomization.yaml").is_file()):
                    problems.append(f"{path}: resource {entry} not found")
        continue
    for doc in docs:
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
            problems.append(f"{path}: a document without apiVersion and kind")
    objects.append(str(path))
for problem in problems:
    print(problem, file=sys.stderr)
print("\n".join(objects))
sys.exit(1 if problems else 0)
EOF
) || failed=1
echo "$objects" | sed 's/^/  /'

echo "== kubernetes-validate --strict against Kubernetes $KUBERNETES_VERSION"
# shellcheck disable=SC2086  # one file a line, no spaces in these paths
if ! "$VENV/bin/kubernetes-validate" --strict -k "$KUBERNETES_VERSION" $objects; then
  echo "kubernetes-validate: FAILED"
  failed=1
fi

echo "== kustomize render of each overlay, validated the same way"
# kubectl's built-in kustomize renders offline (no cluster). Where kubectl is missing this step is
# skipped, not failed: the checks above still read every file the kustomizations list.
if command -v kubectl >/dev/null 2>&1; then
  rendered=$(mktemp -d)
  trap 'rm -rf "$rendered"' EXIT
  for dir in "$MANIFESTS"/*/; do
    name=$(basename "$dir")
    [ "$name" = base ] && continue # shared, applied only through an overlay
    [ -f "$dir/kustomization.yaml" ] || continue
    if ! kubectl kustomize "$dir" >"$rendered/$name.yaml"; then
      echo "kubectl kustomize $dir: FAILED"
      failed=1
      continue
    fi
    if ! "$VENV/bin/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" "$rendered/$name.yaml"; then
      echo "kubernetes-validate of the rendered $name: FAILED"
      failed=1
    fi
    # Every object of a render lands in a namespace (none here is cluster-scoped).
    if ! "$VENV/bin/python" - "$rendered/$name.yaml" <<'PY'
import sys, yaml

docs = [doc for doc in yaml.safe_load_all(open(sys.argv[1])) if doc]
bare = [f"{doc['kind']}/{doc['metadata']['name']}" for doc in docs if not doc["metadata"].get("namespace")]
print(f"  {sys.argv[1].rsplit('/', 1)[-1]}: " + ", ".join(doc["kind"] for doc in docs))
if bare:
    print("  without a namespace: " + ", ".join(bare))
sys.exit(1 if bare else 0)
PY
    then
      failed=1
    fi
  done
else
  echo "kubectl not found: render skipped"
fi

echo "== checkov --framework kubernetes"
# Skipped checks, each for a reason:
#   CKV_K8S_43 (image by digest): the release is the operator's to pin; the manifests carry a
#     placeholder tag that the kustomization's `images:` replaces (a digest there is recommended).
#   CKV_K8S_35 (secrets as files, not environment variables): the bot reads its settings from the
#     environment only (pydantic-settings, README "Configuration"), and never logs them.
#   CKV_K8S_21 (default namespace): the kustomizations set `namespace: incident-bot`; checkov reads
#     the files one by one, without kustomize.
#   CKV2_K8S_6 (a NetworkPolicy per pod): which peers may reach Redis, PostgreSQL, Slack and Microsoft
#     Graph (egress) and the bot (the ingress controller's namespace) is the cluster's to write.
skips=CKV_K8S_43,CKV_K8S_35,CKV_K8S_21,CKV2_K8S_6
if ! "$VENV/bin/checkov" --directory "$MANIFESTS" --framework kubernetes --skip-check "$skips" \
  --compact --quiet --skip-download; then
  echo "checkov: FAILED"
  failed=1
fi

if [ "$failed" -ne 0 ]; then
  echo "deploy/kubernetes: checks FAILED"
  exit 1
fi
echo "deploy/kubernetes: checks passed"
