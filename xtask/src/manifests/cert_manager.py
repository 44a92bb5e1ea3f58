"""Strict checks of cert-manager objects, which kubernetes-validate has no schemas for.

Usage: python cert_manager.py FILE...  (multi-document YAML)

The schema below covers the cert-manager.io/v1 fields of Issuer, ClusterIssuer
and Certificate that the manifests use or are likely to, with unknown fields
refused as kubernetes-validate --strict refuses them, so that a misspelt field
fails CI instead of being dropped by the API server. It is a subset of
cert-manager's CRDs, written by hand: a field it lacks is an error to fix here.
Exit status 1 and one line per problem when anything is wrong.
"""

import sys

import jsonschema
import yaml

DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"}
STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}


def strict(properties, required=()):
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


METADATA = strict(
    {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
        "namespace": {"type": "string"},
        "labels": LABELS,
        "annotations": LABELS,
    },
    ["name"],
)

ISSUER_SPEC = {
    "type": "object",
    "properties": {
        "selfSigned": strict({"crlDistributionPoints": STRINGS}),
        "ca": strict(
            {
                "secretName": {"type": "string", "minLength": 1},
                "crlDistributionPoints": STRINGS,
                "ocspServers": STRINGS,
                "issuingCertificateURLs": STRINGS,
            },
            ["secretName"],
        ),
    },
    "additionalProperties": False,
    "minProperties": 1,
    "maxProperties": 1,
}

USAGES = [
    "signing", "digital signature", "content commitment", "key encipherment",
    "key agreement", "data encipherment", "cert sign", "crl sign",
    "encipher only", "decipher only", "any", "server auth", "client auth",
    "code signing", "email protection", "s/mime", "ipsec end system",
    "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
    "microsoft sgc", "netscape sgc",
]

CERTIFICATE_SPEC = strict(
    {
        "secretName": {"type": "string", "minLength": 1},
        "issuerRef": strict(
            {
                "name": {"type": "string", "minLength": 1},
                "kind": {"type": "string"},
                "group": {"type": "string"},
            },
            ["name"],
        ),
        "commonName": {"type": "string", "maxLength": 64},
        "dnsNames": STRINGS,
        "ipAddresses": STRINGS,
        "uris": STRINGS,
        "emailAddresses": STRINGS,
        "duration": DURATION,
        "renewBefore": DURATION,
        "isCA": {"type": "boolean"},
        "usages": {"type": "array", "items": {"enum": USAGES}},
        "revisionHistoryLimit": {"type": "integer", "minimum": 1},
        "privateKey": strict(
            {
                "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                "size": {"type": "integer"},
                "encoding": {"enum": ["PKCS1", "PKCS8"]},
                "rotationPolicy": {"enum": ["Never", "Always"]},
            }
        ),
        "secretTemplate": strict({"labels": LABELS, "annotations": LABELS}),
        "subject": strict(
            {
                key: STRINGS
                for key in [
                    "organizations", "countries", "organizationalUnits",
                    "localities", "provinces", "streetAddresses", "postalCodes",
                ]
            }
        ),
    },
    ["secretName", "issuerRef"],
)


def schema(kind_spec):
    return strict(
        {
            "apiVersion": {"const": "cert-manager.io/v1"},
            "kind": {"type": "string"},
            "metadata": METADATA,
            "spec": kind_spec,
        },
        ["apiVersion", "kind", "metadata", "spec"],
    )


SCHEMAS = {
    "Issuer": schema(ISSUER_SPEC),
    "ClusterIssuer": schema(ISSUER_SPEC),
    "Certificate": schema(CERTIFICATE_SPEC),
}


def problems(doc):
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if kind not in SCHEMAS:
        return [f"no schema for kind {kind!r}: add it to this checker"]
    validator = jsonschema.Draft202012Validator(SCHEMAS[kind])
    found = []
    for error in validator.iter_errors(doc):
        where = ".".join(str(p) for p in error.absolute_path) or "(top)"
        found.append(f"{where}: {error.message}")
    if kind == "Certificate":
        spec = doc.get("spec", {})
        names = ("commonName", "dnsNames", "ipAddresses", "uris", "emailAddresses")
        if isinstance(spec, dict) and not any(spec.get(n) for n in names):
            found.append("spec: a Certificate needs a commonName or a SAN")
    return found


def main(paths):
    failed = False
    for path in paths:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        for doc in docs:
            name = (doc.get("metadata") or {}).get("name", "?") if isinstance(doc, dict) else "?"
            kind = doc.get("kind", "?") if isinstance(doc, dict) else "?"
            found = problems(doc)
            for p in found:
                print(f"ERROR {path} {kind}/{name}: {p}")
            if not found:
                print(f"INFO {path} {kind}/{name} passed (cert-manager.io/v1 subset)")
            failed |= bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
