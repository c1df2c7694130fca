#!/bin/bash
# The meta's status page as a person sees it: a real cluster (one meta with
# --metrics-listen, three chunkds, one with labels), a goal-3 file written,
# then chunkd2 killed. Headless Chromium loads /status (the DOM it built and
# a screenshot); the test reads the page's text as it is shown and checks
# the leader named with its address, chunkd2's row marked dead and the
# others alive, the dead-server and under-goal lines with the count of
# /status.json, the labels shown. The screenshot must be a real picture
# (a PNG of the window size, not blank). /status.json must parse and agree.
E2E_TIMEOUT=120
META_ARGS=(--node-dead-ms 2000)
. "$(dirname "$0")/lib.sh"

command -v chromium >/dev/null || e2e_fail "chromium is missing (scripts/deps.sh installs it)"
read -r HTTP_PORT <<<"$(e2e_free_ports 1)"
STATUS_URL=http://127.0.0.1:$HTTP_PORT/status

e2e_start_meta --metrics-listen "127.0.0.1:$HTTP_PORT"
e2e_start_chunkd 1 --label "rack=r1,zone=z1"
e2e_start_chunkd 2
e2e_start_chunkd 3
e2e_wait_nodes 3
e2e_mount "$MNT"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$MNT/f" || e2e_fail "write"
sync "$MNT/f"
DEAD=$(cat "${CHUNKD_DIR[2]}/node_id")
[ -n "$DEAD" ] || e2e_fail "no node id in ${CHUNKD_DIR[2]}/node_id"

# Healthy first: the page says so.
for ((i = 0; i < 100; i++)); do
	page=$(curl -fsS "$STATUS_URL" 2>/dev/null) || page=
	case "$page" in *'id="healthy"'*) break ;; esac
	sleep 0.2
done
case "$page" in *'id="healthy"'*) ;; *) e2e_fail "the healthy cluster's page does not say healthy: $page" ;; esac
e2e_log "healthy page seen"

e2e_stop "${CHUNKD_PID[2]}" KILL
e2e_log "chunkd2 ($DEAD) killed"
# Wait until the leader's snapshot has it dead and its chunks under goal.
json=
for ((i = 0; i < 150; i++)); do
	json=$(curl -fsS "$STATUS_URL.json" 2>/dev/null) || json=
	if [ -n "$json" ] && python3 - "$json" "$DEAD" <<'EOF'
import json, sys
s = json.loads(sys.argv[1])
dead = [n for n in s["nodes"] if n["id"] == sys.argv[2]]
sys.exit(0 if dead and dead[0]["alive"] is False and s["chunks"] and s["chunks"]["under_goal"] > 0 else 1)
EOF
	then break; fi
	sleep 0.2
done
[ -n "$json" ] || e2e_fail "no /status.json"
UNDER=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["chunks"]["under_goal"])' "$json") ||
	e2e_fail "/status.json does not parse: $json"
[ "$UNDER" -gt 0 ] || e2e_fail "no chunk under goal 30 s after chunkd2 died: $json"
e2e_log "/status.json: chunkd2 dead, $UNDER chunks under goal"

# What Chromium shows. Its profile in the test's directory; as root it
# needs --no-sandbox.
chrome() {
	timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$E2E_TMP/chromium" --window-size=1280,1400 "$@" \
		2>>"$E2E_TMP/chromium.log"
}
chrome --dump-dom "$STATUS_URL" >"$E2E_TMP/dom.html" || e2e_fail "chromium --dump-dom failed: $(tail -5 "$E2E_TMP/chromium.log")"
chrome --screenshot="$E2E_TMP/status.png" "$STATUS_URL" >/dev/null ||
	e2e_fail "chromium --screenshot failed: $(tail -5 "$E2E_TMP/chromium.log")"

python3 - "$E2E_TMP/dom.html" "$E2E_TMP/status.png" "$DEAD" "$(cat "${CHUNKD_DIR[1]}/node_id")" \
	"$META_ADDR" "$UNDER" <<'EOF' || e2e_fail "the page Chromium shows is not right (DOM: $E2E_TMP/dom.html)"
import html.parser, struct, sys, zlib

dom_path, png_path, dead, labelled, meta_addr, under = sys.argv[1:]
under = int(under)

class Text(html.parser.HTMLParser):
    """The text a reader sees, and the text of each table row by its id."""
    def __init__(self):
        super().__init__()
        self.parts, self.rows, self.row, self.skip = [], {}, None, 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("style", "script", "title"):
            self.skip += 1
        if tag == "tr" and a.get("id", "").startswith("node-"):
            self.row = a["id"][5:]
            self.rows[self.row] = []
        if tag in ("td", "th", "p", "tr", "h1", "h2", "h3", "b"):
            self.parts.append(" ")
    def handle_endtag(self, tag):
        if tag in ("style", "script", "title"):
            self.skip -= 1
        if tag == "tr":
            self.row = None
    def handle_data(self, data):
        if self.skip:
            return
        self.parts.append(data)
        if self.row is not None:
            self.rows[self.row].append(data)

t = Text()
t.feed(open(dom_path, encoding="utf-8").read())
text = " ".join("".join(t.parts).split())
rows = {k: " ".join(" ".join(v).split()) for k, v in t.rows.items()}
errors = []
def want(cond, what):
    if not cond:
        errors.append(what)

want(f"Leader: node 1 ({meta_addr})" in text, f"the leader is not named with its address {meta_addr}")
want(f"1 of 3 chunk servers dead: {dead}." in text, "no line naming the dead chunk server")
want(f"{under} chunks are under goal" in text or f"{under} chunk is under goal" in text,
     f"no line saying {under} chunks are under goal")
want(dead in rows, f"no row for chunkd {dead}")
if dead in rows:
    want(" dead " in f" {rows[dead]} " and "alive" not in rows[dead], f"the dead chunkd's row: {rows[dead]!r}")
alive = [r for k, r in rows.items() if k != dead]
want(len(alive) == 2 and all(" alive " in f" {r} " for r in alive), f"the live chunkds' rows: {alive!r}")
want(labelled in rows and "rack=r1,zone=z1" in rows[labelled], "the labels of chunkd1 are not shown")
want("Under goal" in text and "Missing (no live copy)" in text, "no chunk health table")
want("127.0.0.1" in text and "voter" in text, "no Raft member table")

# The screenshot: a PNG of the window's size whose pixels are not all one colour.
data = open(png_path, "rb").read()
want(data[:8] == b"\x89PNG\r\n\x1a\n", "the screenshot is not a PNG")
w, h, depth, ctype = struct.unpack(">IIBB", data[16:26])
want((w, h) == (1280, 1400), f"the screenshot is {w}x{h}")
pos, idat = 8, b""
while pos < len(data):
    n = struct.unpack(">I", data[pos:pos + 4])[0]
    kind = data[pos + 4:pos + 8]
    if kind == b"IDAT":
        idat += data[pos + 8:pos + 8 + n]
    pos += 12 + n
raw = zlib.decompress(idat)
want(len(set(raw[i:i + 3] for i in range(1, len(raw) - 3, 997))) > 3, "the screenshot is blank")
for e in errors:
    print("status page:", e)
print("page text:", text[:1500])
sys.exit(1 if errors else 0)
EOF
e2e_log "Chromium shows the leader, chunkd2 dead, $UNDER chunks under goal (screenshot $E2E_TMP/status.png)"

# Bad requests to the listener: another path, another method.
code=$(curl -s --path-as-is -o /dev/null -w "%{http_code}" "http://127.0.0.1:$HTTP_PORT/status/../../etc/passwd")
[ "$code" = 404 ] || e2e_fail "an unknown path answers $code, not 404"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$STATUS_URL")
[ "$code" = 405 ] || e2e_fail "POST /status answers $code, not 405"
e2e_alive "$META_PID" || e2e_fail "the meta died"
