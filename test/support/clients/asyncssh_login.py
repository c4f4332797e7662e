"""
asyncssh (Debian's python3-asyncssh) logs in to a server under test, as the interop tests
direct: one JSON argument names the port, the user, the host key to trust (nothing else is
trusted), the methods to use in order (asyncssh's preferred_auth), the keys (each maybe with
its certificate), the passwords to give one after another, and the keyboard-interactive
answers by prompt. Then, if authenticated, one exec. It prints one JSON line: the outcome,
the error if any, the command's output and exit status.
"""
import asyncio
import json
import sys

import asyncssh

spec = json.loads(sys.argv[1])


class Client(asyncssh.SSHClient):
    def __init__(self):
        self.passwords = list(spec.get("passwords", []))
        self.rounds = list(spec.get("interactive", []))
        self.asked = []

    def password_auth_requested(self):
        return self.passwords.pop(0) if self.passwords else None

    def kbdint_auth_requested(self):
        return "" if self.rounds else None

    def kbdint_challenge_received(self, name, instructions, lang, prompts):
        if not prompts:
            return []
        answers = self.rounds.pop(0) if self.rounds else {}
        self.asked.extend(p for p, _ in prompts)
        return [answers.get(p.strip(), "") for p, _ in prompts]


def describe(e):
    return "%s: %s" % (type(e).__name__, getattr(e, "reason", None) or e)


async def main():
    out = {"authenticated": False}
    keys = []
    for k in spec.get("keys", []):
        key = asyncssh.read_private_key(k["key"])
        keys.append((key, asyncssh.read_certificate(k["cert"])) if "cert" in k else key)
    trusted = asyncssh.import_known_hosts("[127.0.0.1]:%d %s\n" % (spec["port"], spec["hostKey"]))
    client = None

    def factory():
        nonlocal client
        client = Client()
        return client

    try:
        async with asyncssh.connect(
            "127.0.0.1",
            spec["port"],
            username=spec["user"],
            known_hosts=trusted,
            client_factory=factory,
            client_keys=keys,
            agent_path=None,
            preferred_auth=spec["methods"],
            config=None,
            login_timeout=15,
        ) as conn:
            out["authenticated"] = True
            if "command" in spec:
                result = await asyncio.wait_for(conn.run(spec["command"]), 15)
                out.update(stdout=result.stdout, stderr=result.stderr, exitStatus=result.exit_status)
    except Exception as e:
        out["error"] = describe(e)
    if client is not None:
        out["prompts"] = client.asked
    print(json.dumps(out))


asyncio.run(main())
