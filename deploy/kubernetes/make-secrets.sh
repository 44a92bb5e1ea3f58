#!/usr/bin/env bash
# Makes the TLS material of a sensor installation with openssl and turns it
# into the Secrets the manifests mount:
#
#   collector-tls     tls.crt, tls.key, ca.crt   the collector's server certificate
#                                                (the Service's DNS names) and the CA
#                                                its clients must chain to
#   sensor-node-tls   ca.crt, <node>.crt, <node>.key for every node
#                                                the agents' client certificates
#   sensorctl-analyst tls.crt, tls.key, ca.crt   an analyst's client certificate
#
# Each node has a certificate of its own because the collector refuses a batch
# whose node is not the name in the client's certificate: one certificate for
# all agents would let only one node deliver. All of them sit in one Secret
# since a DaemonSet mounts the same Secret on every node (each agent picks
# its own by $NODE_NAME), so a node that can read its Secret can read the
# other nodes' keys too. Run it again when nodes join: it reuses the CA.
#
# Usage:
#   make-secrets.sh [all] [--apply] [NODE...]
#       a CA (kept in --out, reused when there), the collector's, the nodes' and
#       an analyst's certificates; for a cluster without cert-manager (kind).
#   make-secrets.sh nodes --ca-secret NAME [--apply] [NODE...]
#       only the nodes' certificates, signed by the CA in the Secret NAME
#       (tls.crt, tls.key; the production overlay's cert-manager CA, `sensor-ca`).
#
# Without NODE arguments the nodes are those of the cluster (`kubectl get
# nodes`). The Secrets are printed as YAML on stdout, or applied with --apply
# (the namespace is created first if missing). Options: --namespace NS
# (default sensor), --out DIR (default deploy/kubernetes/.secrets next to this
# script; keys stay there, mode 0600), --days N (validity of the leaf
# certificates, default 365).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
mode=all
apply=false
namespace=sensor
out="$here/.secrets"
ca_secret=""
days=365
nodes=()

die() {
    echo "make-secrets.sh: $*" >&2
    exit 1
}

if [[ $# -gt 0 && ( $1 == all || $1 == nodes ) ]]; then
    mode=$1
    shift
fi
while [[ $# -gt 0 ]]; do
    case $1 in
        --apply) apply=true ;;
        --namespace) namespace=${2:?--namespace needs a value}; shift ;;
        --out) out=${2:?--out needs a directory}; shift ;;
        --ca-secret) ca_secret=${2:?--ca-secret needs a Secret name}; shift ;;
        --days) days=${2:?--days needs a number}; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) nodes+=("$1") ;;
    esac
    shift
done

command -v openssl >/dev/null || die "openssl is not installed"
command -v kubectl >/dev/null || die "kubectl is not installed"
if [[ $mode == nodes && -z $ca_secret ]]; then
    die "nodes needs --ca-secret NAME (the Secret holding the CA's tls.crt and tls.key)"
fi
if [[ ${#nodes[@]} -eq 0 ]]; then
    read -r -a nodes <<<"$(kubectl get nodes -o jsonpath='{.items[*].metadata.name}')" ||
        die "cannot list the cluster's nodes; name them as arguments"
    [[ ${#nodes[@]} -gt 0 ]] || die "the cluster has no nodes; name them as arguments"
fi
for node in "${nodes[@]}"; do
    # Secret keys and certificate names: a node name is a DNS subdomain.
    [[ $node =~ ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$ ]] || die "'$node' is not a node name"
done

umask 077
mkdir -p "$out"
chmod 700 "$out"

# A P-256 key in PKCS#8, which every TLS stack of the product reads.
new_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

# sign NAME CN EXTENSIONS: a leaf certificate NAME.crt for NAME.key, signed by
# the CA in ca.crt/ca.key.
sign() {
    local name=$1 cn=$2 ext=$3
    [[ -f $out/$name.key ]] || new_key "$out/$name.key"
    openssl req -new -key "$out/$name.key" -subj "/CN=$cn" -out "$out/$name.csr"
    openssl x509 -req -in "$out/$name.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
        -CAcreateserial -days "$days" -sha256 -out "$out/$name.crt" \
        -extfile <(printf '%s\n' "basicConstraints=critical,CA:FALSE" "$ext") 2>/dev/null
    rm -f "$out/$name.csr"
}

case $mode in
    all)
        if [[ ! -f $out/ca.crt || ! -f $out/ca.key ]]; then
            new_key "$out/ca.key"
            openssl req -x509 -new -key "$out/ca.key" -subj "/CN=sensor-ca" -days 3650 -sha256 \
                -addext "basicConstraints=critical,CA:TRUE" \
                -addext "keyUsage=critical,keyCertSign,cRLSign" \
                -out "$out/ca.crt"
            echo "make-secrets.sh: new CA in $out/ca.crt" >&2
        else
            echo "make-secrets.sh: reusing the CA in $out/ca.crt" >&2
        fi
        service=collector
        sans="DNS:$service,DNS:$service.$namespace,DNS:$service.$namespace.svc"
        sans+=",DNS:$service.$namespace.svc.cluster.local,DNS:localhost,IP:127.0.0.1"
        sign collector "$service.$namespace.svc" \
            "$(printf '%s\n' "subjectAltName=$sans" "keyUsage=critical,digitalSignature" \
                "extendedKeyUsage=serverAuth")"
        sign analyst analyst \
            "$(printf '%s\n' "keyUsage=critical,digitalSignature" "extendedKeyUsage=clientAuth")"
        ;;
    nodes)
        kubectl -n "$namespace" get secret "$ca_secret" -o jsonpath='{.data.tls\.crt}' |
            base64 -d >"$out/ca.crt" || die "cannot read tls.crt of Secret $namespace/$ca_secret"
        kubectl -n "$namespace" get secret "$ca_secret" -o jsonpath='{.data.tls\.key}' |
            base64 -d >"$out/ca.key" || die "cannot read tls.key of Secret $namespace/$ca_secret"
        [[ -s $out/ca.crt && -s $out/ca.key ]] || die "Secret $namespace/$ca_secret has no tls.crt and tls.key"
        ;;
esac

node_files=(--from-file="ca.crt=$out/ca.crt")
for node in "${nodes[@]}"; do
    # The collector names a client by its first DNS name: the node's name,
    # as the agent reports it (spec.nodeName).
    sign "node-$node" "$node" \
        "$(printf '%s\n' "subjectAltName=DNS:$node" "keyUsage=critical,digitalSignature" \
            "extendedKeyUsage=clientAuth")"
    node_files+=(--from-file="$node.crt=$out/node-$node.crt" --from-file="$node.key=$out/node-$node.key")
done
rm -f "$out/ca.srl"
# The cert-manager CA's key stays in its Secret, not on this disk.
if [[ $mode == nodes ]]; then
    rm -f "$out/ca.key"
fi

secrets() {
    local labels=app.kubernetes.io/part-of=sensor
    if [[ $mode == all ]]; then
        kubectl create secret generic collector-tls -n "$namespace" --dry-run=client -o yaml \
            --type=kubernetes.io/tls --from-file="tls.crt=$out/collector.crt" \
            --from-file="tls.key=$out/collector.key" --from-file="ca.crt=$out/ca.crt" |
            kubectl label --local -f - "$labels" -o yaml
        echo ---
        kubectl create secret generic sensorctl-analyst -n "$namespace" --dry-run=client -o yaml \
            --type=kubernetes.io/tls --from-file="tls.crt=$out/analyst.crt" \
            --from-file="tls.key=$out/analyst.key" --from-file="ca.crt=$out/ca.crt" |
            kubectl label --local -f - "$labels" -o yaml
        echo ---
    fi
    kubectl create secret generic sensor-node-tls -n "$namespace" --dry-run=client -o yaml \
        "${node_files[@]}" | kubectl label --local -f - "$labels" -o yaml
}

if $apply; then
    kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >&2
    secrets | kubectl apply -f - >&2
    echo "make-secrets.sh: Secrets applied in namespace $namespace for nodes: ${nodes[*]}" >&2
else
    secrets
fi
if [[ $mode == all ]]; then
    echo "make-secrets.sh: sensorctl: --tls-cert $out/analyst.crt --tls-key $out/analyst.key --tls-ca $out/ca.crt" >&2
fi
