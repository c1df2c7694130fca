# relay.py DUMP LISTEN:TARGET...: TCP relays on 127.0.0.1 that append every
# byte they pass, both ways, to DUMP: what an eavesdropper on the wire sees
# (e2e_meta_raft_tls.sh, e2e_tokens.sh).
import socket, sys, threading

dump = open(sys.argv[1], "ab", buffering=0)
lock = threading.Lock()

def copy(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            with lock:
                dump.write(d)
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

def serve(lport, tport):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("127.0.0.1", lport))
    l.listen(64)
    while True:
        c, _ = l.accept()
        try:
            t = socket.create_connection(("127.0.0.1", tport))
        except OSError:
            c.close()
            continue
        for a, b in ((c, t), (t, c)):
            threading.Thread(target=copy, args=(a, b), daemon=True).start()

for spec in sys.argv[2:]:
    lp, tp = map(int, spec.split(":"))
    threading.Thread(target=serve, args=(lp, tp), daemon=True).start()
threading.Event().wait()
