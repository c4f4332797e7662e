"""
paramiko (Debian's python3-paramiko) logs in to a server under test, as the interop tests
direct: one JSON argument names the port, the user, the host key to expect, and the steps
to try in order on one connection (publickey with a key and maybe its certificate, password,
keyboard-interactive). Then, if authenticated, one exec. It prints one JSON line: every
step's outcome, the host key seen, the command's output and exit status.
"""
import json
import logging
import socket
import sys

import paramiko

spec = json.loads(sys.argv[1])
out = {"hostKey": None, "steps": [], "authenticated": False, "log": []}


class Collect(logging.Handler):
    """paramiko reports a DISCONNECT's text only in its log: keep those lines."""

    def emit(self, record):
        message = record.getMessage()
        if "isconnect" in message:
            out["log"].append(message)


logging.getLogger("paramiko").addHandler(Collect())
logging.getLogger("paramiko").setLevel(logging.INFO)


def load_key(path, cert=None):
    last = None
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            key = cls.from_private_key_file(path)
            break
        except Exception as e:  # the next class, or report the last failure
            last = e
    else:
        raise last
    if cert is not None:
        key.load_certificate(cert)
    return key


def describe(e):
    return "%s: %s" % (type(e).__name__, e)


sock = socket.create_connection(("127.0.0.1", spec["port"]), timeout=15)
t = paramiko.Transport(sock)
try:
    t.start_client(timeout=15)
    key = t.get_remote_server_key()
    out["hostKey"] = "%s %s" % (key.get_name(), key.get_base64())
    if out["hostKey"] != spec["hostKey"]:
        raise SystemExit(json.dumps({**out, "error": "host key mismatch"}))
    for step in spec["steps"]:
        result = {"method": step["method"]}
        try:
            if step["method"] == "publickey":
                allowed = t.auth_publickey(spec["user"], load_key(step["key"], step.get("cert")))
            elif step["method"] == "password":
                allowed = t.auth_password(spec["user"], step["password"])
            else:
                answers = step["answers"]
                allowed = t.auth_interactive(
                    spec["user"], lambda title, instructions, prompts: [answers.get(p.strip(), "") for p, _ in prompts]
                )
            result["ok"] = True
            result["partial"] = allowed
        except Exception as e:
            result["ok"] = False
            result["error"] = describe(e)
        out["steps"].append(result)
        if t.is_authenticated() or not t.is_active():
            break
    out["authenticated"] = t.is_authenticated()
    out["active"] = t.is_active()
    if t.is_authenticated() and "command" in spec:
        channel = t.open_session(timeout=15)
        channel.settimeout(15)
        channel.exec_command(spec["command"])
        stdout = channel.makefile("rb").read().decode()
        stderr = channel.makefile_stderr("rb").read().decode()
        out.update(stdout=stdout, stderr=stderr, exitStatus=channel.recv_exit_status())
except Exception as e:
    out["error"] = describe(e)
finally:
    t.close()
print(json.dumps(out))
