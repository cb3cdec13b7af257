#!/bin/sh
# Regenerates the TLS test fixtures (a CA, a server and a client certificate, EC P-256, valid
# 100 years). Run from this folder: sh make-certs.sh. The CA key is not kept.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
days=36500
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout "$tmp/ca.key" \
  -subj "/CN=grpc-ws test CA" -days $days -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt
leaf() {
  name=$1 subject=$2 ext=$3
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout "$name.key" -subj "$subject" -out "$tmp/$name.csr"
  printf '%s\n' "$ext" > "$tmp/$name.ext"
  openssl x509 -req -in "$tmp/$name.csr" -CA ca.crt -CAkey "$tmp/ca.key" -CAcreateserial -days $days -extfile "$tmp/$name.ext" -out "$name.crt"
}
leaf server "/CN=localhost" "subjectAltName=DNS:localhost,DNS:upstream.test,IP:127.0.0.1,IP:::1
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
leaf client "/CN=grpc-ws test client" "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
rm -f ca.srl
