#!/usr/bin/env bash
# Capture golden SCEP fixtures from the real Debian clients (package `scep`:
# micromdm scepclient; package `certmonger`: scep-submit) against a small
# recording HTTP server on 127.0.0.1. Output: tests/fixtures/scep/.
#
#   scripts/capture-fixtures.sh            # keep test CA + client key, recapture
#   REGEN_KEYS=1 scripts/capture-fixtures.sh   # also make a new test CA and client key
#   PORT=18444 scripts/capture-fixtures.sh     # another loopback port (18000-18999)
#
# Needs: scepclient, /usr/lib/certmonger/scep-submit, python3, openssl (3.x,
# with the legacy provider for single DES). No network beyond loopback.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/tests/fixtures/scep
PORT=${PORT:-18443}
URL=http://127.0.0.1:$PORT/scep
SCEP_SUBMIT=/usr/lib/certmonger/scep-submit
MAX_TRIES=${MAX_TRIES:-30}
CAPS_POST=$'POSTPKIOperation\nSHA-1\nSHA-256\nAES\nDES3\nSCEPStandard\n'
CAPS_GET=$'SHA-1\nSHA-256\nAES\nDES3\n'

command -v scepclient >/dev/null || { echo "scepclient missing (apt-get install scep)" >&2; exit 1; }
[ -x "$SCEP_SUBMIT" ] || { echo "$SCEP_SUBMIT missing (apt-get install certmonger)" >&2; exit 1; }
if [ "$PORT" -lt 18000 ] || [ "$PORT" -gt 18999 ]; then echo "PORT must be 18000-18999" >&2; exit 1; fi

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/certdrop-capture.XXXXXX)
STATE=$WORK/state
mkdir -p "$STATE"
LOG=$STATE/log.txt
: >"$LOG"
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

note() { printf '%s\n' "$*" >>"$LOG"; }

# ---------------------------------------------------------------- test CA + client key
if [ "${REGEN_KEYS:-0}" = 1 ] || [ ! -s "$OUT/test-ca.key" ] || [ ! -s "$OUT/test-ca.pem" ]; then
  cat >"$WORK/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment
subjectKeyIdentifier = hash
EOF
  openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$OUT/test-ca.key"
  # RDN order O then CN, i.e. RFC 2253 "CN=certdrop test CA,O=certdrop tests".
  openssl req -new -x509 -config "$WORK/ca.cnf" -extensions v3_ca -key "$OUT/test-ca.key" -sha256 \
    -days 7305 -subj "/O=certdrop tests/CN=certdrop test CA" -out "$OUT/test-ca.pem"
fi
openssl x509 -in "$OUT/test-ca.pem" -outform DER -out "$OUT/test-ca.der"
if [ "${REGEN_KEYS:-0}" = 1 ] || [ ! -s "$OUT/scepclient-key.pem" ]; then
  openssl genrsa -traditional -out "$OUT/scepclient-key.pem" 2048 2>/dev/null   # PKCS#1 "RSA PRIVATE KEY"
fi

# ---------------------------------------------------------------- recording server
cat >"$WORK/server.py" <<'PYEOF'
"""Recording SCEP responder. usage: server.py PORT STATEDIR CA_DER
STATEDIR/caps      GetCACaps body, re-read on every request
STATEDIR/pkireply  "500" (default: HTTP 500 text/plain) or "garbage"
                   (HTTP 200 application/x-pki-message, body not a pkiMessage)
STATEDIR/log.txt   one line per request (appended)
STATEDIR/pkiop-N.body / .ctype (POST) or pkiop-N.query (GET, raw query bytes)
"""
import http.server, os, socketserver, sys

port, state, cader = int(sys.argv[1]), sys.argv[2], sys.argv[3]
seq = [0]

def read_state(name, default):
    try:
        with open(os.path.join(state, name), 'rb') as f:
            return f.read()
    except FileNotFoundError:
        return default

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.0'

    def log_message(self, *args):
        pass

    def handle_any(self):
        target = self.path                         # request-target as received, undecoded
        path, _, query = target.partition('?')
        ctype = self.headers.get('Content-Type', '-')
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else b''
        params = {}
        for pair in query.split('&'):
            k, _, v = pair.partition('=')
            params.setdefault(k, v)
        op = params.get('operation', '')
        shown = query if len(query) <= 120 else '%s...[%d chars]' % (query[:120], len(query))
        with open(os.path.join(state, 'log.txt'), 'a') as f:
            f.write('%s %s query=%s content-type=%s body-bytes=%d user-agent=%s\n' % (
                self.command, path, shown, ctype, len(body), self.headers.get('User-Agent', '-')))
        if op == 'GetCACaps':
            return self.reply(200, 'text/plain', read_state('caps', b''))
        if op == 'GetCACert':
            with open(cader, 'rb') as f:
                return self.reply(200, 'application/x-x509-ca-cert', f.read())
        if op == 'PKIOperation':
            seq[0] += 1
            base = os.path.join(state, 'pkiop-%d' % seq[0])
            if self.command == 'POST':
                with open(base + '.body', 'wb') as f:
                    f.write(body)
                with open(base + '.ctype', 'w') as f:
                    f.write(ctype)
            else:
                with open(base + '.query', 'w', newline='') as f:
                    f.write(query)
            if read_state('pkireply', b'500').strip() == b'garbage':
                return self.reply(200, 'application/x-pki-message', b'this is not a pkiMessage\n')
            return self.reply(500, 'text/plain', b'recording server: request recorded\n')
        return self.reply(400, 'text/plain', b'unknown operation\n')

    def reply(self, code, ctype, body):
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = handle_any

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    allow_reuse_address = True
    daemon_threads = True

Server(('127.0.0.1', port), Handler).serve_forever()
PYEOF

printf '%s' "$CAPS_POST" >"$STATE/caps"
python3 "$WORK/server.py" "$PORT" "$STATE" "$OUT/test-ca.der" >"$WORK/server.out" 2>&1 &
SERVER_PID=$!
for _ in $(seq 50); do
  python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$PORT),0.2)" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.out" >&2; exit 1; }
  sleep 0.1
done

# newest recorded PKIOperation file with the given suffix
latest() { ls -v "$STATE"/pkiop-*."$1" 2>/dev/null | tail -1; }

# run CMD... from $WORK, log the command line, its output (indented) and exit status
run_logged() {
  note "\$ $(printf '%q ' "$@")"
  local rc=0
  (cd "$WORK" && "$@") >"$WORK/o.txt" 2>"$WORK/e.txt" || rc=$?
  sed 's/^/  stdout| /' "$WORK/o.txt" >>"$LOG"
  sed 's/^/  stderr| /' "$WORK/e.txt" >>"$LOG"
  note "  exit status: $rc"
  return 0
}

# scepclient keeps csr.pem and self.pem beside the key and reuses them on the
# next run; start every run from a fresh directory so nothing is reused.
fresh_key_dir() {
  rm -rf "$WORK/a"; mkdir -p "$WORK/a"
  cp "$OUT/scepclient-key.pem" "$WORK/a/scepclient-key.pem"
}
SCEPCLIENT=(scepclient -server-url "$URL" -challenge fixture-challenge-1 -private-key a/scepclient-key.pem
            -cn scepclient-fixture -organization certdrop-tests -debug)

# ---------------------------------------------------------------- a. scepclient POST
# Retried until the DER length is not a multiple of 3, so that base64 of it
# (used below for certmonger, and in the GET case) ends in '=' padding.
note "# ==== a. scepclient, caps advertise POSTPKIOperation (expect POST)"
printf '%s' "$CAPS_POST" >"$STATE/caps"
got=
for i in $(seq "$MAX_TRIES"); do
  fresh_key_dir
  run_logged "${SCEPCLIENT[@]}"
  f=$(latest body)
  if [ -n "$f" ] && [ $(( $(stat -c %s "$f") % 3 )) -ne 0 ]; then got=$f; break; fi
  note "# (attempt $i: body length multiple of 3, retrying for a padded base64 form)"
done
[ -n "$got" ] || { echo "no usable POST captured" >&2; exit 1; }
cp "$got" "$OUT/scepclient-pkcsreq-post.der"
note "# captured $(basename "$got") -> scepclient-pkcsreq-post.der, Content-Type: $(cat "${got%.body}.ctype")"

# ---------------------------------------------------------------- b. scepclient GET
note "# ==== b. scepclient, caps without POSTPKIOperation/SCEPStandard (expect GET)"
printf '%s' "$CAPS_GET" >"$STATE/caps"
got=
for i in $(seq "$MAX_TRIES"); do
  fresh_key_dir
  run_logged "${SCEPCLIENT[@]}"
  f=$(latest query)
  if [ -n "$f" ] && grep -q '%3D' "$f"; then got=$f; break; fi
  note "# (attempt $i: no padding in message, retrying)"
done
[ -n "$got" ] || { echo "no usable GET captured" >&2; exit 1; }
cp "$got" "$OUT/scepclient-pkcsreq-get.query"
note "# captured $(basename "$got") -> scepclient-pkcsreq-get.query"

# ---------------------------------------------------------------- d. scepclient, non-printable challenge
note "# ==== d. scepclient POST, challenge with '_' and '@' (not PrintableString characters)"
printf '%s' "$CAPS_POST" >"$STATE/caps"
fresh_key_dir
run_logged scepclient -server-url "$URL" -challenge 'fixture_challenge@2' -private-key a/scepclient-key.pem \
  -cn scepclient-fixture -organization certdrop-tests -debug
cp "$(latest body)" "$OUT/scepclient-pkcsreq-post-utf8challenge.der"
note "# captured $(basename "$(latest body)") -> scepclient-pkcsreq-post-utf8challenge.der"

# ---------------------------------------------------------------- c. certmonger scep-submit
note "# ==== c. certmonger scep-submit (caps advertise POSTPKIOperation)"
printf '%s' "$CAPS_POST" >"$STATE/caps"
cp "$OUT/test-ca.pem" "$WORK/test-ca.pem"
base64 -w 64 "$OUT/scepclient-pkcsreq-post.der" >"$OUT/certmonger-pkimessage.b64"
cp "$OUT/certmonger-pkimessage.b64" "$WORK/"
run_logged "$SCEP_SUBMIT" -u "$URL" -c
run_logged "$SCEP_SUBMIT" -u "$URL" -C
run_logged "$SCEP_SUBMIT" -u "$URL" -i 'my CA/1+2=3&x' -c
run_logged "$SCEP_SUBMIT" -u "$URL" -r test-ca.pem -p certmonger-pkimessage.b64
cp "$(latest query)" "$OUT/certmonger-pkioperation-get.query"
note "# captured $(basename "$(latest query)") -> certmonger-pkioperation-get.query"
note "# ---- same, reply HTTP 200 application/x-pki-message with a body that is not a pkiMessage"
echo garbage >"$STATE/pkireply"
run_logged "$SCEP_SUBMIT" -u "$URL" -r test-ca.pem -p certmonger-pkimessage.b64
echo 500 >"$STATE/pkireply"
note "# ---- input file variants: one-line base64, PEM-armoured; must give the same query"
base64 -w 0 "$OUT/scepclient-pkcsreq-post.der" >"$WORK/oneline.b64"
{ echo '-----BEGIN PKCS7-----'; cat "$WORK/certmonger-pkimessage.b64"; echo '-----END PKCS7-----'; } >"$WORK/armoured.pem"
for v in oneline.b64 armoured.pem; do
  run_logged "$SCEP_SUBMIT" -u "$URL" -r test-ca.pem -p "$v"
  if cmp -s "$(latest query)" "$OUT/certmonger-pkioperation-get.query"; then note "# $v: same query"; else note "# $v: DIFFERENT query"; fi
done
note "# ---- without -r"
run_logged "$SCEP_SUBMIT" -u "$URL" -p certmonger-pkimessage.b64
note "# ---- pkiMessage on stdin instead of a file argument"
note "\$ $SCEP_SUBMIT -u $URL -r test-ca.pem -p < certmonger-pkimessage.b64"
rc=0; (cd "$WORK" && "$SCEP_SUBMIT" -u "$URL" -r test-ca.pem -p <certmonger-pkimessage.b64) >"$WORK/o.txt" 2>&1 || rc=$?
sed 's/^/  out| /' "$WORK/o.txt" >>"$LOG"; note "  exit status: $rc"

# ---------------------------------------------------------------- 3. verify + decrypt
python3 - "$OUT/scepclient-pkcsreq-get.query" "$WORK/get.der" <<'PYEOF'
import base64, sys, urllib.parse
q = open(sys.argv[1], newline='').read()
msg = dict(p.split('=', 1) for p in q.split('&'))['message']
open(sys.argv[2], 'wb').write(base64.urlsafe_b64decode(urllib.parse.unquote(msg)))
PYEOF
python3 - "$OUT/certmonger-pkioperation-get.query" "$WORK/cm.der" <<'PYEOF'
import base64, sys, urllib.parse
q = open(sys.argv[1], newline='').read()
msg = dict(p.split('=', 1) for p in q.split('&'))['message']
open(sys.argv[2], 'wb').write(base64.b64decode(urllib.parse.unquote(msg)))
PYEOF
cmp "$WORK/cm.der" "$OUT/scepclient-pkcsreq-post.der" || { echo "certmonger GET does not decode to the input message" >&2; exit 1; }

verify() {   # DER_IN CSR_OUT
  openssl cms -verify -noverify -binary -inform DER -in "$1" -out "$WORK/env.der" 2>/dev/null
  openssl cms -decrypt -provider legacy -provider default -binary -inform DER -in "$WORK/env.der" \
    -inkey "$OUT/test-ca.key" -recip "$OUT/test-ca.pem" -out "$2"
  openssl req -inform DER -in "$2" -noout -verify 2>/dev/null
  [ "$(openssl req -inform DER -in "$2" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)" = \
    "$(openssl pkey -in "$OUT/scepclient-key.pem" -pubout -outform DER | sha256sum)" ] \
    || { echo "CSR key != scepclient-key.pem" >&2; exit 1; }
}
verify "$OUT/scepclient-pkcsreq-post.der" "$OUT/scepclient-pkcsreq-post.csr.der"
verify "$WORK/get.der" "$OUT/scepclient-pkcsreq-get.csr.der"
verify "$OUT/scepclient-pkcsreq-post-utf8challenge.der" "$WORK/utf8.csr.der"
for c in "$OUT/scepclient-pkcsreq-post.csr.der" "$WORK/utf8.csr.der"; do
  note "# challengePassword in $(basename "$c"): $(openssl asn1parse -inform DER -in "$c" | grep -A2 challengePassword | tail -1 | sed 's/.*prim: //')"
done

cp "$LOG" "$OUT/capture-log.txt"
echo "fixtures written to $OUT"
